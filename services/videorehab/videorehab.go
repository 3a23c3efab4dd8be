// Package videorehab is the videorehab target (OpenTera's VideoRehabService, `/rehab`): the
// session manager of video sessions (session_manage over NATS request/reply, manage.go), whose
// state lives in PostgreSQL (schema videorehab, state.go) so any replica continues a session
// another started, and what follows presence (presence.go: invitations sent again to an invitee
// who reconnects, the session stopped when its creator disconnects). The media (the SFU and its
// signalling) and the pages mount their HTTP routes here (Options.Routes).
//
// Events go where OpenTera sent them: each invitation, stop, leave and reply to every invitee
// on tera.client.<kind>.<uuid> (OpenTera's websocket.<kind>.<uuid>.events), and once on
// tera.session.<uuid>.<join|stop|leave|reply> for usermanager (busy marking) and the SFU.
package videorehab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/pkg/servicekit"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/videorehab/sfu"
	"github.com/tera-health/tera/services/videorehab/signal"
)

// ServiceKey is OpenTera's key of the service whose session types this target manages.
const ServiceKey = "VideoRehabService"

// The session pages, under the public URL, with ?key=<session_key> (OpenTera's per-session
// /webrtc/<port>/{users,participants,devices}?key=…, now one videorehab for every session).
const (
	PathUsers        = "/rehab/users"
	PathParticipants = "/rehab/participants"
	PathDevices      = "/rehab/devices"
)

// Options configure the target.
type Options struct {
	DB   *pgxpool.Pool
	NATS *nats.Conn
	// JS holds the presence bucket (busy invitees are not invited: OpenTera issue 267).
	JS  jetstream.JetStream
	Log *slog.Logger
	// PublicURL is how clients reach the site, for the session URLs.
	PublicURL string
	// Routes are the HTTP routes other parts of the target mount (pages).
	Routes []server.Route
	// SFU and Signal are the media side, mounted at PathSignal when set (Signal admitting with
	// an Admitter on DB). Run closes a stopped session's room and the SFU when it ends.
	SFU    *sfu.SFU
	Signal *signal.Handler
	// Signer signs the service token recordings are uploaded with (recordings.go); without
	// it rooms cannot record. FileTransferURL is where the filetransfer target is reached
	// (PublicURL when empty).
	Signer          *authn.Signer
	FileTransferURL string
}

// Service is the videorehab target.
type Service struct {
	server.NoGRPC // the target's surface is NATS RPC and plain HTTP

	o        Options
	presence *presence.Store

	http    *http.Client
	uploads sync.WaitGroup // recordings being uploaded

	mu          sync.Mutex
	serviceUUID string // VideoRehabService's t_services uuid, read once the database answers
	serviceID   int32
}

// New returns the target.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.PublicURL = strings.TrimSuffix(o.PublicURL, "/")
	o.FileTransferURL = strings.TrimSuffix(o.FileTransferURL, "/")
	s := &Service{o: o, http: &http.Client{}}
	if o.JS != nil {
		s.presence = presence.NewStore(o.JS)
	}
	if o.SFU != nil && o.Signer != nil && o.DB != nil {
		o.SFU.OnRecorded(s.recorded)
	}
	return s
}

// Name implements server.Service.
func (s *Service) Name() string { return "videorehab" }

// HTTPRoutes implements server.HTTPService: the invitations of the caller (so a page that
// opens after its websocket got the invitation still finds it: OpenTera issue 143), the SFU's
// signalling, the pages (pages.go) and the routes mounted by others.
func (s *Service) HTTPRoutes() []server.Route {
	anyone := &optionsv1.Access{Principals: []optionsv1.Principal{optionsv1.Principal_PRINCIPAL_USER,
		optionsv1.Principal_PRINCIPAL_PARTICIPANT, optionsv1.Principal_PRINCIPAL_DEVICE}}
	routes := []server.Route{{Path: "/rehab/api/invitations", Access: anyone, Methods: map[string]http.HandlerFunc{
		http.MethodGet: s.invitations}}}
	if s.o.Signal != nil {
		// The handler authenticates again (it reads the caller's kind and uuid) and admits
		// with the session key.
		routes = append(routes, server.Route{Path: PathSignal, Access: anyone, Methods: map[string]http.HandlerFunc{
			http.MethodGet: s.o.Signal.ServeHTTP}})
	}
	routes = append(routes, pageRoutes()...)
	return append(routes, s.o.Routes...)
}

// Run answers session_manage and follows presence until ctx ends. NATS may be down at start:
// the RPC service is registered once the connection is up.
func (s *Service) Run(ctx context.Context) error {
	if s.o.Signal != nil {
		sub, err := s.followSessions()
		if err != nil {
			return err
		}
		defer func() { _ = sub.Unsubscribe() }()
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.o.Signal.Run(sctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				s.o.Log.Warn("signalling stopped", "err", err)
			}
			if err := s.o.SFU.Close(); err != nil {
				s.o.Log.Warn("sfu closed", "err", err)
			}
			// The rooms' recordings ended with them: upload them while the process may.
			wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
			s.waitUploads(wctx)
			wcancel()
		}()
	}
	var rpc interface{ Stop() error }
	for rpc == nil {
		svc, err := servicekit.ServeRPC(s.o.NATS, ServiceKey, "",
			map[string]servicekit.RPCHandler{servicekit.MethodSessionManage: s.sessionManage})
		if err == nil {
			rpc = svc
			break
		}
		s.o.Log.Warn("session_manage not served yet", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	defer func() { _ = rpc.Stop() }()
	sub, err := s.o.NATS.QueueSubscribe("tera.presence.>", "videorehab", s.onPresence)
	if err != nil {
		return fmt.Errorf("subscribe tera.presence.>: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	<-ctx.Done()
	return nil
}

// self returns VideoRehabService's uuid and id (core.t_services).
func (s *Service) self(ctx context.Context) (string, int32, error) {
	s.mu.Lock()
	u, id := s.serviceUUID, s.serviceID
	s.mu.Unlock()
	if u != "" {
		return u, id, nil
	}
	err := s.o.DB.QueryRow(ctx, `SELECT service_uuid, id_service FROM core.t_services WHERE service_key = $1 AND deleted_at IS NULL`,
		ServiceKey).Scan(&u, &id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, fmt.Errorf("service %s is not registered in core.t_services", ServiceKey)
	}
	if err != nil {
		return "", 0, fmt.Errorf("read service %s: %w", ServiceKey, err)
	}
	s.mu.Lock()
	s.serviceUUID, s.serviceID = u, id
	s.mu.Unlock()
	return u, id, nil
}

// url is a session page's URL for a kind of invitee.
func (s *Service) url(kind, key string) string {
	p := map[string]string{presence.User: PathUsers, presence.Participant: PathParticipants, presence.Device: PathDevices}[kind]
	return s.o.PublicURL + p + "?key=" + key
}
