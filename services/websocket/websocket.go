// Package websocket is the websocket target (ARCHITECTURE §2, OpenTera's TwistedModule): it
// holds the live client connections of /wss/user, /wss/participant and /wss/device, opened with
// the single-use key of login's websocket_url, and forwards to each client the events it may see
// (REFERENCE §5), printed byte for byte as OpenTera prints them. It keeps no state another
// replica needs: presence is usermanager's (reported per connection, in order), events arrive
// from NATS whichever replica or target produced them.
package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/pkg/telemetry"
	"github.com/tera-health/tera/services/internal/presence"
)

// Options configure the websocket target.
type Options struct {
	DB    *pgxpool.Pool
	NATS  *nats.Conn
	JS    jetstream.JetStream
	State *authn.State
	Log   *slog.Logger
	// Replica names this process in presence keys; random when empty.
	Replica string
	// PingInterval and PingTimeout are OpenTera's 10 s and 30 s unless set (tests).
	PingInterval, PingTimeout time.Duration
	// Tracing continues the writer's trace in the handling of each database event; nil is off.
	Tracing *telemetry.Tracing
	// AccessTTL bounds how long a client's cached access may be used without a refresh; 5 s
	// unless set. Database events refresh it sooner.
	AccessTTL time.Duration
	// SendQueue is how many frames may wait for a slow client before it is dropped (64).
	SendQueue int
	// Metrics receives tera_websocket_connections when set.
	Metrics prometheus.Registerer
}

// Service is the websocket target.
type Service struct {
	server.NoGRPC // the target has no gRPC API

	o        Options
	log      *slog.Logger
	store    *presence.Store
	hub      *hub
	access   *accessCache
	runCtx   context.Context
	started  chan struct{}
	reports  chan struct{} // slots of reportsInFlight
	handlers sync.WaitGroup
}

// New builds the websocket target.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Replica == "" {
		o.Replica = authn.RandomHex(8)
	}
	if o.PingInterval == 0 {
		o.PingInterval = 10 * time.Second
	}
	if o.PingTimeout == 0 {
		o.PingTimeout = 30 * time.Second
	}
	if o.AccessTTL == 0 {
		o.AccessTTL = 5 * time.Second
	}
	if o.SendQueue == 0 {
		o.SendQueue = 64
	}
	s := &Service{o: o, log: o.Log.With("target", "websocket", "replica", o.Replica), store: presence.NewStore(o.JS),
		started: make(chan struct{}), reports: make(chan struct{}, reportsInFlight)}
	s.access = newAccessCache(o.DB, o.AccessTTL, s.log)
	s.hub = newHub(s)
	if o.Metrics != nil {
		o.Metrics.MustRegister(s.hub.connections)
	}
	return s
}

// Name implements server.Service.
func (s *Service) Name() string { return "websocket" }

// HTTPRoutes implements server.HTTPService. The routes are public to the server: the connect
// key of the URL (single use, from a login) is the credential, checked by the handler.
func (s *Service) HTTPRoutes() []server.Route {
	public := &optionsv1.Access{Public: true}
	route := func(path, kind string) server.Route {
		return server.Route{Path: path, Methods: map[string]http.HandlerFunc{http.MethodGet: s.handler(kind)}, Access: public}
	}
	return []server.Route{route("/wss/user", presence.User), route("/wss/participant", presence.Participant), route("/wss/device", presence.Device)}
}

// Run subscribes to the events clients receive, keeps the replica's heartbeat and, when ctx
// ends, closes every socket with 1001 and reports each close before returning.
func (s *Service) Run(ctx context.Context) error {
	s.runCtx = ctx
	subs, err := s.hub.subscribe()
	if err != nil {
		return err
	}
	close(s.started)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.heartbeat(ctx) }()
	go func() { defer wg.Done(); s.access.run(ctx) }()
	go func() { defer wg.Done(); s.watchDatabase(ctx) }()
	<-ctx.Done()
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
	s.hub.closeAll(websocket.StatusGoingAway, "server shutting down")
	s.handlers.Wait()
	wg.Wait()
	if kv, err := s.store.Replicas(context.Background()); err == nil {
		_ = kv.Delete(context.Background(), s.o.Replica)
	}
	return nil
}

// heartbeat keeps replica.<id> alive so usermanager keeps this replica's connections. If the key
// vanished (NATS outage longer than its TTL), the connections are reported again.
func (s *Service) heartbeat(ctx context.Context) {
	t := time.NewTicker(presence.HeartbeatInterval)
	defer t.Stop()
	var rev uint64
	for {
		kv, err := s.store.Replicas(ctx)
		if err == nil {
			if rev != 0 {
				rev, err = kv.Update(ctx, s.o.Replica, []byte(time.Now().UTC().Format(time.RFC3339)), rev)
				if err != nil && ctx.Err() == nil {
					rev = 0
					s.log.Warn("replica heartbeat lost; reporting connections again", "err", err)
					_ = kv.Delete(ctx, s.o.Replica)
					s.hub.reportAll(ctx)
				}
			}
			if rev == 0 {
				rev, err = kv.Create(ctx, s.o.Replica, []byte(time.Now().UTC().Format(time.RFC3339)))
				if errors.Is(err, jetstream.ErrKeyExists) {
					_ = kv.Delete(ctx, s.o.Replica)
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("replica heartbeat", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchDatabase makes cached access stale on every database event, so a change reaches the
// filters within one refresh.
func (s *Service) watchDatabase(ctx context.Context) {
	for ctx.Err() == nil {
		cons, err := s.o.JS.OrderedConsumer(ctx, "TERA_DB", jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{"tera.db.>"}, DeliverPolicy: jetstream.DeliverNewPolicy})
		if err == nil {
			var cc jetstream.ConsumeContext
			cc, err = cons.Consume(func(m jetstream.Msg) {
				if t := s.o.Tracing; t != nil {
					_, span := t.Consume(ctx, "websocket", m.Subject(), m.Headers())
					defer span.End()
				}
				s.access.invalidate()
			})
			if err == nil {
				<-ctx.Done()
				cc.Stop()
				return
			}
		}
		s.log.Debug("database events not watched yet", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// isUpgrade reports whether r asks for a websocket (else OpenTera answers 426).
func isUpgrade(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func authnKind(kind string) authn.Kind {
	switch kind {
	case presence.User:
		return authn.KindUser
	case presence.Participant:
		return authn.KindParticipant
	}
	return authn.KindDevice
}

func forbidden(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(msg + "\n"))
}

func (s *Service) handler(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !isUpgrade(r) {
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUpgradeRequired)
			_, _ = w.Write([]byte("426 Upgrade Required: this is a websocket endpoint\n"))
			return
		}
		select {
		case <-s.started:
		default:
			http.Error(w, "websocket target starting", http.StatusServiceUnavailable)
			return
		}
		key := r.URL.Query().Get("id")
		if key == "" {
			forbidden(w, "Websocket authentication failed (key, uuid).")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		target, ok, err := s.o.State.ConsumeConnectKey(ctx, key, authnKind(kind))
		if err != nil {
			s.log.Warn("connect key not readable", "err", err)
			http.Error(w, "connect keys unavailable", http.StatusServiceUnavailable)
			return
		}
		if !ok {
			forbidden(w, "Websocket authentication failed (key, uuid).")
			return
		}
		p, err := s.principal(ctx, kind, target.UUID)
		if errors.Is(err, errUnknownPrincipal) {
			forbidden(w, "Websocket authentication failed (key, uuid).")
			return
		}
		if err != nil {
			s.log.Warn("principal lookup", "kind", kind, "err", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			// The single-use key authenticates; OpenTera accepts every origin (its web clients are
			// served from other hosts).
			InsecureSkipVerify: true,
			CompressionMode:    websocket.CompressionDisabled,
		})
		if err != nil {
			return // Accept answered the client
		}
		s.handlers.Add(1)
		defer s.handlers.Done()
		c := newClient(s, ws, p, target)
		c.serve(s.runCtx)
	}
}

var errUnknownPrincipal = errors.New("unknown or disabled principal")

// principal loads what events and filters need about the key's principal.
func (s *Service) principal(ctx context.Context, kind, uuid string) (principal, error) {
	p := principal{Kind: kind, UUID: uuid}
	var err error
	switch kind {
	case presence.User:
		err = s.o.DB.QueryRow(ctx, `SELECT id_user, user_firstname || ' ' || user_lastname FROM core.t_users
			WHERE user_uuid = $1 AND deleted_at IS NULL AND user_enabled`, uuid).Scan(&p.ID, &p.Name)
	case presence.Participant:
		err = s.o.DB.QueryRow(ctx, `SELECT p.id_participant, p.participant_name, pr.project_name, si.site_name
			FROM core.t_participants p JOIN core.t_projects pr ON pr.id_project = p.id_project
			JOIN core.t_sites si ON si.id_site = pr.id_site
			WHERE p.participant_uuid = $1 AND p.deleted_at IS NULL AND p.participant_enabled`, uuid).Scan(&p.ID, &p.Name, &p.ProjectName, &p.SiteName)
	default:
		err = s.o.DB.QueryRow(ctx, `SELECT id_device, device_name FROM core.t_devices
			WHERE device_uuid = $1 AND deleted_at IS NULL AND device_enabled`, uuid).Scan(&p.ID, &p.Name)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return p, errUnknownPrincipal
	}
	if err != nil {
		return p, fmt.Errorf("load %s %s: %w", kind, uuid, err)
	}
	return p, nil
}

// report tells usermanager about a connection opening or closing, and waits for its answer, so
// the two are applied in order for each connection.
func (s *Service) report(ctx context.Context, subject string, c presence.Conn) error {
	b, _ := json.Marshal(c)
	msg, err := s.o.NATS.RequestWithContext(ctx, subject, b)
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	var rep presence.Reply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return fmt.Errorf("%s: bad reply: %w", subject, err)
	}
	if !rep.OK {
		return fmt.Errorf("%s: %s", subject, rep.Error)
	}
	return nil
}

// reportsInFlight bounds the reports a replica has waiting for usermanager. Past what
// usermanager applies per second, more in flight only wait in its queues until they time out
// and are sent again: 10,000 sockets opened at once on a loaded machine then had their reports
// time out over and over and were closed, though each would have been applied in its turn.
const reportsInFlight = 256

// reportAttempts is how many times a connect report is sent before it is given up on (about a
// minute of usermanager not answering; the socket is then closed and the client reconnects),
// and after how many failed disconnect reports a warning is logged.
const reportAttempts = 6

// reportOnce sends one report when a slot is free (waiting for it is not counted against the
// report's timeout).
func (s *Service) reportOnce(ctx context.Context, subject string, c presence.Conn, timeout time.Duration) error {
	select {
	case s.reports <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.reports }()
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.report(rctx, subject, c)
}

// reportConnect reports an open, retrying (the report is idempotent) while usermanager is slow
// or restarting, up to reportAttempts times.
func (s *Service) reportConnect(ctx context.Context, c presence.Conn) error {
	for attempt := 1; ; attempt++ {
		err := s.reportOnce(ctx, presence.SubjectConnect, c, presence.ConnectTimeout)
		if err == nil || ctx.Err() != nil || attempt == reportAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// reportRetry reports a close until usermanager answers, for as long as this replica runs: a
// lost disconnect would leave the client listed online while the replica's heartbeat keeps its
// connections (usermanager only sweeps the connections of dead replicas), and a restarting
// usermanager answers no request for longer than a few quick attempts. The delay doubles up to
// reportBackoffMax. While the replica shuts down it tries once, without waiting for a slot: its
// heartbeat key goes with it, so usermanager sweeps what was not reported.
func (s *Service) reportRetry(c presence.Conn) {
	const timeout = 5 * time.Second
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.reportOnce(s.runCtx, presence.SubjectDisconnect, c, timeout)
		if err == nil {
			if attempt > reportAttempts {
				s.log.Info("disconnect reported after retries", "conn", c.Key(), "attempts", attempt)
			}
			return
		}
		if s.runCtx.Err() != nil {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err = s.report(ctx, presence.SubjectDisconnect, c)
			cancel()
			if err != nil {
				s.log.Warn("disconnect not reported; usermanager will drop it with this replica", "conn", c.Key(), "err", err)
			}
			return
		}
		if attempt == reportAttempts {
			s.log.Warn("disconnect not reported yet; retrying until usermanager answers", "conn", c.Key(), "err", err)
		}
		select {
		case <-s.runCtx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, reportBackoffMax)
	}
}

// reportBackoffMax bounds the delay between two disconnect reports of one connection: once
// usermanager is back, a client it still lists online is dropped within about this long.
const reportBackoffMax = 10 * time.Second
