// Package usermanager is the usermanager target (ARCHITECTURE §2, OpenTera's UserManagerModule):
// presence in NATS KV (who is online, per connection; who is busy in a session; device status),
// the CONNECTED/DISCONNECTED events OpenTera's UserManagerModule emits, forced disconnection of
// disabled or deleted principals, and the REST endpoints that read presence. Every replica
// answers requests (queue group); state is only in KV, so replicas agree and any may die.
package usermanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/pkg/telemetry"
	"github.com/tera-health/tera/services/internal/outbox"
	"github.com/tera-health/tera/services/internal/presence"
)

// Options configure the usermanager target.
type Options struct {
	DB   *pgxpool.Pool
	NATS *nats.Conn
	JS   jetstream.JetStream
	Log  *slog.Logger
	// Verifier authenticates the REST endpoints' callers.
	Verifier *authn.Verifier
	// SweepInterval is how often connections of dead websocket replicas are dropped
	// (presence.HeartbeatInterval unless set).
	SweepInterval time.Duration
	// Tracing continues the writer's trace in the handling of each database event; nil is off.
	Tracing *telemetry.Tracing
}

// Service is the usermanager target.
type Service struct {
	server.NoGRPC // the target's API is plain HTTP and NATS

	o     Options
	log   *slog.Logger
	store *presence.Store

	replicasMu sync.Mutex
	// replicas are the websocket replicas seen (heartbeat, report, first sweep) whose
	// connections the sweep has not found gone yet.
	replicas map[string]bool
}

// New builds the usermanager target.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = presence.HeartbeatInterval
	}
	return &Service{o: o, log: o.Log.With("target", "usermanager"), store: presence.NewStore(o.JS), replicas: map[string]bool{}}
}

// Name implements server.Service.
func (s *Service) Name() string { return "usermanager" }

// Run answers the websocket replicas' reports, sweeps dead replicas' connections and watches
// database events for principals to disconnect, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	nc := s.o.NATS
	// Reports are applied by workers sharded by principal: in parallel across principals, in
	// order for one (a connection's close is reported only after its open was answered).
	shards := make([]chan func(), reportWorkers)
	var workers sync.WaitGroup
	for i := range shards {
		shards[i] = make(chan func(), 1024)
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				select {
				case f := <-shards[i]:
					f()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	defer workers.Wait()
	// maxWait is how long a report may wait for its worker and still be applied (0: always).
	dispatch := func(h func(*nats.Msg, presence.Conn), maxWait time.Duration) nats.MsgHandler {
		return func(m *nats.Msg) {
			queued := time.Now()
			var c presence.Conn
			if err := json.Unmarshal(m.Data, &c); err != nil {
				reply(m, fmt.Errorf("bad connection report: %w", err))
				return
			}
			if err := validConn(c); err != nil {
				reply(m, err)
				return
			}
			h32 := fnv.New32a()
			_, _ = h32.Write([]byte(c.Kind + "." + c.UUID))
			select {
			case shards[h32.Sum32()%reportWorkers] <- func() {
				if maxWait == 0 || time.Since(queued) < maxWait {
					h(m, c)
				}
			}:
			case <-ctx.Done():
				reply(m, errors.New("usermanager shutting down"))
			}
		}
	}
	var subs []*nats.Subscription
	for subj, h := range map[string]nats.MsgHandler{
		presence.SubjectConnect: dispatch(s.onConnect, presence.ConnectTimeout),
		// A close is applied however late: its sender may have given up retrying.
		presence.SubjectDisconnect: dispatch(s.onDisconnect, 0),
	} {
		sub, err := nc.QueueSubscribe(subj, presence.QueueUserManager, h)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
		subs = append(subs, sub)
	}
	sub, err := nc.QueueSubscribe("tera.session.>", presence.QueueUserManager, s.onSessionEvent)
	if err != nil {
		return fmt.Errorf("subscribe tera.session.>: %w", err)
	}
	subs = append(subs, sub)
	defer func() {
		for _, sub := range subs {
			_ = sub.Drain()
		}
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.sweep(ctx) }()
	go func() { defer wg.Done(); s.watchDatabase(ctx) }()
	wg.Wait()
	return nil
}

func reply(m *nats.Msg, err error) {
	r := presence.Reply{OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	}
	b, _ := json.Marshal(r)
	_ = m.Respond(b)
}

func validConn(c presence.Conn) error {
	switch c.Kind {
	case presence.User, presence.Participant, presence.Device:
	default:
		return fmt.Errorf("unknown kind %q", c.Kind)
	}
	for _, f := range []string{c.UUID, c.Replica, c.ID} {
		if f == "" || !keySafe(f) {
			return fmt.Errorf("invalid connection %q", c.Key())
		}
	}
	return nil
}

// keySafe reports whether s may be one token of a KV key.
func keySafe(s string) bool {
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// reportWorkers is how many principals' reports are applied at once.
const reportWorkers = 128

// onConnect records a connection; the principal's first one makes it online (CONNECTED).
func (s *Service) onConnect(m *nats.Msg, c presence.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply(m, s.connect(ctx, c))
}

func (s *Service) connect(ctx context.Context, c presence.Conn) error {
	s.noteReplica(c.Replica)
	kv, err := s.store.Presence(ctx)
	if err != nil {
		return err
	}
	if closed, err := isClosed(ctx, kv, c); err != nil || closed {
		return err // its close was reported first: nothing to record
	}
	b, _ := json.Marshal(c)
	if _, err := kv.Put(ctx, c.Key(), b); err != nil {
		return fmt.Errorf("record connection: %w", err)
	}
	first, err := s.updateOnline(ctx, kv, c, true)
	if err != nil {
		return err
	}
	if first {
		s.log.Info("online", "kind", c.Kind, "uuid", c.UUID)
		if err := s.publish(c, true); err != nil {
			return err
		}
	}
	// A close applied meanwhile (by another replica) found nothing to drop: undo the open.
	if closed, err := isClosed(ctx, kv, c); err != nil || !closed {
		return err
	}
	return s.drop(ctx, kv, c, 0)
}

func isClosed(ctx context.Context, kv jetstream.KeyValue, c presence.Conn) (bool, error) {
	_, err := kv.Get(ctx, c.ClosedKey())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read closed marker: %w", err)
	}
	return true, nil
}

// onDisconnect drops a connection; the principal's last one makes it offline (DISCONNECTED).
func (s *Service) onDisconnect(m *nats.Msg, c presence.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply(m, s.disconnect(ctx, c, 0))
}

// disconnect deletes a connection (at revision rev when not 0, so that of several sweepers only
// one wins) and emits DISCONNECTED if it was the principal's last.
func (s *Service) disconnect(ctx context.Context, c presence.Conn, rev uint64) error {
	kv, err := s.store.Presence(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.Create(ctx, c.ClosedKey(), nil, jetstream.KeyTTL(presence.ClosedTTL)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("mark connection closed: %w", err)
	}
	return s.drop(ctx, kv, c, rev)
}

// drop deletes a recorded connection and emits DISCONNECTED if it was the principal's last.
func (s *Service) drop(ctx context.Context, kv jetstream.KeyValue, c presence.Conn, rev uint64) error {
	if rev == 0 {
		e, err := kv.Get(ctx, c.Key())
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil // already dropped (by a sweep)
		}
		if err != nil {
			return fmt.Errorf("read connection: %w", err)
		}
		rev = e.Revision()
		if err := json.Unmarshal(e.Value(), &c); err != nil {
			return fmt.Errorf("read connection: %w", err)
		}
	}
	if err := kv.Delete(ctx, c.Key(), jetstream.LastRevision(rev)); err != nil && !isConflict(err) {
		return fmt.Errorf("drop connection: %w", err)
	}
	last, err := s.updateOnline(ctx, kv, c, false)
	if err != nil || !last {
		return err
	}
	// An offline principal is in no session and a device offline has no status (DeviceRegistry).
	_ = kv.Delete(ctx, "busy."+c.Kind+"."+c.UUID)
	if c.Kind == presence.Device {
		_ = kv.Delete(ctx, "status."+c.UUID)
	}
	s.log.Info("offline", "kind", c.Kind, "uuid", c.UUID)
	return s.publish(c, false)
}

// updateOnline adds a connection to (or removes it from) its principal's online set, by
// compare-and-set; changed reports that the principal came online (first connection) or went
// offline (last one).
func (s *Service) updateOnline(ctx context.Context, kv jetstream.KeyValue, c presence.Conn, add bool) (changed bool, err error) {
	key, id := presence.OnlineKey(c.Kind, c.UUID), c.Replica+"."+c.ID
	for range 50 {
		var set []string
		var rev uint64
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return false, fmt.Errorf("read online set: %w", err)
		default:
			if err := json.Unmarshal(e.Value(), &set); err != nil {
				return false, fmt.Errorf("read online set: %w", err)
			}
			rev = e.Revision()
		}
		had := slices.Contains(set, id)
		if add == had {
			return false, nil
		}
		if add {
			b, _ := json.Marshal(append(set, id))
			if rev == 0 {
				_, err = kv.Create(ctx, key, b)
			} else {
				_, err = kv.Update(ctx, key, b, rev)
			}
			if err == nil {
				return len(set) == 0, nil
			}
		} else {
			rest := slices.DeleteFunc(set, func(x string) bool { return x == id })
			if len(rest) == 0 {
				err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
			} else {
				b, _ := json.Marshal(rest)
				_, err = kv.Update(ctx, key, b, rev)
			}
			if err == nil {
				return len(rest) == 0, nil
			}
		}
		if !isConflict(err) {
			return false, fmt.Errorf("update online set: %w", err)
		}
	}
	return false, errors.New("online set: too much contention")
}

// isConflict reports a compare-and-set that lost to another writer.
func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || isRevisionMismatch(err)
}

func isRevisionMismatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// publish emits the principal's CONNECTED or DISCONNECTED event, with the fields OpenTera's
// websocket protocols fill in.
func (s *Service) publish(c presence.Conn, online bool) error {
	var m proto.Message
	switch c.Kind {
	case presence.User:
		t := eventsv1.UserEvent_USER_DISCONNECTED
		if online {
			t = eventsv1.UserEvent_USER_CONNECTED
		}
		m = &eventsv1.UserEvent{UserUuid: c.UUID, Type: t, UserFullname: c.Name}
	case presence.Participant:
		t := eventsv1.ParticipantEvent_PARTICIPANT_DISCONNECTED
		if online {
			t = eventsv1.ParticipantEvent_PARTICIPANT_CONNECTED
		}
		m = &eventsv1.ParticipantEvent{ParticipantUuid: c.UUID, Type: t, ParticipantName: c.Name,
			ParticipantProjectName: c.ProjectName, ParticipantSiteName: c.SiteName}
	default:
		t := eventsv1.DeviceEvent_DEVICE_DISCONNECTED
		if online {
			t = eventsv1.DeviceEvent_DEVICE_CONNECTED
		}
		m = &eventsv1.DeviceEvent{DeviceUuid: c.UUID, Type: t, DeviceName: c.Name}
	}
	return presence.Publish(s.o.NATS, c.Kind, c.UUID, m)
}

// sweep drops the connections of websocket replicas whose heartbeat expired (killed, or cut
// off from NATS longer than presence.ReplicaTTL), so their clients go offline by themselves.
// Only the first pass lists every connection; later ones list the connections of the replicas
// that died since. (Listing 10,000 connections every few seconds made the embedded NATS and
// the garbage collector stall every delivery of the process.)
func (s *Service) sweep(ctx context.Context) {
	t := time.NewTicker(s.o.SweepInterval)
	defer t.Stop()
	full := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.sweepOnce(ctx, full); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("presence sweep", "err", err)
			}
		} else {
			full = false
		}
	}
}

// noteReplica remembers a websocket replica that holds (or held) connections, for the sweep.
func (s *Service) noteReplica(r string) {
	s.replicasMu.Lock()
	defer s.replicasMu.Unlock()
	s.replicas[r] = true
}

// sweepOnce drops the connections of dead replicas: of every replica (full), or of the known
// ones whose heartbeat is gone. A known replica is forgotten once it has no connection left.
func (s *Service) sweepOnce(ctx context.Context, full bool) error {
	replicas, err := s.store.Replicas(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	lister, err := replicas.ListKeys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("list replicas: %w", err)
	}
	if lister != nil {
		for k := range lister.Keys() {
			live[k] = true
			s.noteReplica(k)
		}
	}
	kv, err := s.store.Presence(ctx)
	if err != nil {
		return err
	}
	var conns []presence.Conn
	if full {
		for _, kind := range []string{presence.User, presence.Participant, presence.Device} {
			cs, err := s.store.Conns(ctx, kind, "")
			if err != nil {
				return err
			}
			for _, c := range cs {
				s.noteReplica(c.Replica)
				if !live[c.Replica] {
					conns = append(conns, c)
				}
			}
		}
	} else {
		s.replicasMu.Lock()
		var dead []string
		for r := range s.replicas {
			if !live[r] {
				dead = append(dead, r)
			}
		}
		s.replicasMu.Unlock()
		for _, r := range dead {
			cs, err := s.store.ConnsOfReplica(ctx, r)
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				s.replicasMu.Lock()
				delete(s.replicas, r)
				s.replicasMu.Unlock()
			}
			conns = append(conns, cs...)
		}
	}
	for _, c := range conns {
		e, err := kv.Get(ctx, c.Key())
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read connection: %w", err)
		}
		// A replica that just started writes its heartbeat before it accepts sockets, but
		// give a record younger than the TTL the benefit of the doubt.
		if time.Since(e.Created()) < presence.ReplicaTTL {
			continue
		}
		if err := json.Unmarshal(e.Value(), &c); err != nil {
			return fmt.Errorf("read connection: %w", err)
		}
		s.log.Info("dropping connection of a dead websocket replica", "replica", c.Replica, "kind", c.Kind, "uuid", c.UUID)
		if err := s.disconnect(ctx, c, e.Revision()); err != nil {
			return err
		}
	}
	return nil
}

// watchDatabase disconnects users, participants and devices that are disabled or deleted, as
// OpenTera's UserManagerModule does on its DatabaseModule events. The durable consumer is shared
// by every replica, so each event is handled once.
func (s *Service) watchDatabase(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.consumeDatabase(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("database events not consumed; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// ConsumerName is the durable consumer of database events every usermanager replica shares.
const ConsumerName = "usermanager"

func (s *Service) consumeDatabase(ctx context.Context) error {
	if err := outbox.EnsureStreams(ctx, s.o.JS); err != nil {
		return err
	}
	cons, err := s.o.JS.CreateOrUpdateConsumer(ctx, outbox.StreamName, jetstream.ConsumerConfig{
		Durable:        ConsumerName,
		Description:    "usermanager: disconnect disabled or deleted principals",
		FilterSubjects: []string{"tera.db.user.>", "tera.db.participant.>", "tera.db.device.>"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        30 * time.Second,
		MaxDeliver:     5,
	})
	if err != nil {
		return fmt.Errorf("database events consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ctx, span := ctx, trace.Span(nil)
		if s.o.Tracing != nil {
			ctx, span = s.o.Tracing.Consume(ctx, ConsumerName, m.Subject(), m.Headers())
			defer span.End()
		}
		if err := s.onDatabaseEvent(ctx, m.Data()); err != nil {
			if span != nil {
				telemetry.Error(span, err)
			}
			s.log.WarnContext(ctx, "database event not handled", "subject", m.Subject(), "err", err)
			_ = m.NakWithDelay(time.Second)
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		return fmt.Errorf("consume database events: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

var modelKinds = map[string]struct{ kind, table, id, uuid, enabled string }{
	"user":        {presence.User, "core.t_users", "id_user", "user_uuid", "user_enabled"},
	"participant": {presence.Participant, "core.t_participants", "id_participant", "participant_uuid", "participant_enabled"},
	"device":      {presence.Device, "core.t_devices", "id_device", "device_uuid", "device_enabled"},
}

func (s *Service) onDatabaseEvent(ctx context.Context, data []byte) error {
	var ev eventsv1.DatabaseEvent
	if err := proto.Unmarshal(data, &ev); err != nil {
		return nil // not ours to fix; dropping it is all we can do
	}
	mk, ok := modelKinds[ev.ObjectType]
	if !ok {
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(ev.ObjectValue), &obj); err != nil {
		return nil
	}
	uuid, _ := obj[mk.uuid].(string)
	switch ev.Type {
	case eventsv1.DatabaseEvent_DB_UPDATE:
		enabled, isBool := obj[mk.enabled].(bool)
		if !isBool || enabled {
			return nil
		}
	case eventsv1.DatabaseEvent_DB_DELETE:
		if uuid == "" {
			// Deletes carry the id only; the row stays (soft delete) so its uuid can be read.
			id, _ := obj[mk.id].(float64)
			err := s.o.DB.QueryRow(ctx, `SELECT `+mk.uuid+` FROM `+mk.table+` WHERE `+mk.id+` = $1`, int64(id)).Scan(&uuid)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("uuid of deleted %s: %w", ev.ObjectType, err)
			}
		}
	default:
		return nil
	}
	if uuid == "" {
		return nil
	}
	s.log.Info("disconnecting a disabled or deleted principal", "kind", mk.kind, "uuid", uuid)
	return presence.Disconnect(s.o.NATS, mk.kind, uuid, "usermanager")
}
