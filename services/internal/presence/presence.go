// Package presence is the contract between the websocket and usermanager targets (ARCHITECTURE
// §2, §3), and the reads other targets make of presence.
//
// Presence lives in NATS KV so every replica agrees. Bucket tera_presence holds one key per live
// websocket connection, conn.<kind>.<uuid>.<replica>.<conn>, written by usermanager when a
// websocket replica reports a connection (request on SubjectConnect) and deleted when it reports
// the close (SubjectDisconnect; closed.<replica>.<conn> then remembers it was closed, whatever
// order the two reports are applied in), and online.<kind>.<uuid>, the set of a principal's connections
// (updated by compare-and-set, so "is X online" is one read). A websocket replica keeps its key
// alive in bucket tera_ws_replicas (TTL ReplicaTTL, refreshed every HeartbeatInterval);
// usermanager deletes the connections of a replica whose key expired, so a killed replica's
// clients go offline by themselves. busy.<kind>.<uuid> holds the session a principal is in,
// status.<uuid> a device's last status.
//
// Presence events (User/Participant/DeviceEvent as OpenTera's UserManagerModule emits them) are
// TeraEvents published on tera.presence.<kind>.<uuid>; commands and events for one client on
// tera.client.<kind>.<uuid>.
package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
)

const (
	BucketPresence = "tera_presence"
	BucketReplicas = "tera_ws_replicas"

	// SubjectConnect and SubjectDisconnect are usermanager's request subjects (queue group
	// QueueUserManager); the payload is a Conn as JSON, the reply Reply.
	SubjectConnect    = "tera.usermanager.connect"
	SubjectDisconnect = "tera.usermanager.disconnect"
	QueueUserManager  = "usermanager"

	// Topic is the header topic of presence events, OpenTera's UserManagerModule event topic.
	Topic = "module.TeraServer.UserManagerModule.events"

	HeartbeatInterval = 5 * time.Second
	ReplicaTTL        = 15 * time.Second

	// ConnectTimeout is how long a websocket replica waits for the answer to a connect report
	// before sending it again; usermanager skips a report that waited longer in its queue (its
	// sender has retried: applying both would double the work of an overloaded usermanager).
	ConnectTimeout = 10 * time.Second
)

// Kinds of principal, as they appear in subjects, keys and /wss paths.
const (
	User        = "user"
	Participant = "participant"
	Device      = "device"
)

// Conn is one websocket connection of a principal.
type Conn struct {
	Kind    string `json:"kind"`
	UUID    string `json:"uuid"`
	Replica string `json:"replica"`
	ID      string `json:"conn"`
	// Name is the user's full name, the participant's or the device's name.
	Name string `json:"name"`
	// ProjectName and SiteName are the participant's project and site (ParticipantEvent).
	ProjectName string `json:"project_name,omitempty"`
	SiteName    string `json:"site_name,omitempty"`
}

// Key is the connection's key in BucketPresence.
func (c Conn) Key() string { return "conn." + c.Kind + "." + c.UUID + "." + c.Replica + "." + c.ID }

// ClosedKey marks a connection whose close was reported (for ClosedTTL), so that a report of
// its opening that arrives later (retried, or queued on another usermanager replica) is ignored.
func (c Conn) ClosedKey() string { return "closed." + c.Replica + "." + c.ID }

// ClosedTTL is how long a closed connection is remembered; longer than any report is retried.
const ClosedTTL = 5 * time.Minute

// ParseConnKey splits a connection key; ok is false for other keys.
func ParseConnKey(key string) (c Conn, ok bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 5 || parts[0] != "conn" {
		return c, false
	}
	return Conn{Kind: parts[1], UUID: parts[2], Replica: parts[3], ID: parts[4]}, true
}

// Reply answers a request to usermanager.
type Reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// SubjectPresence is where presence events of a principal are published.
func SubjectPresence(kind, uuid string) string { return "tera.presence." + kind + "." + uuid }

// SubjectClient is where commands and events for one client are published.
func SubjectClient(kind, uuid string) string { return "tera.client." + kind + "." + uuid }

// Store binds the presence buckets on first use, so a target starts while NATS is down.
type Store struct {
	js jetstream.JetStream

	mu       sync.Mutex
	presence jetstream.KeyValue
	replicas jetstream.KeyValue
}

// NewStore returns a store over js.
func NewStore(js jetstream.JetStream) *Store { return &Store{js: js} }

// Presence is the bucket of connections, busy sessions and device status.
func (s *Store) Presence(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.presence == nil {
		// Per-key TTLs (closed-connection markers) need LimitMarkerTTL (nats-server 2.11+).
		kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketPresence, History: 1,
			LimitMarkerTTL: time.Minute, Description: "websocket connections, busy sessions and device status"})
		if err != nil {
			return nil, fmt.Errorf("kv bucket %s: %w", BucketPresence, err)
		}
		s.presence = kv
	}
	return s.presence, nil
}

// Replicas is the bucket of live websocket replicas.
func (s *Store) Replicas(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replicas == nil {
		kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketReplicas, History: 1, TTL: ReplicaTTL,
			Description: "live websocket replicas (heartbeat)"})
		if err != nil {
			return nil, fmt.Errorf("kv bucket %s: %w", BucketReplicas, err)
		}
		s.replicas = kv
	}
	return s.replicas, nil
}

// keys lists the keys of the presence bucket matching filter (an empty bucket is no error).
func (s *Store) keys(ctx context.Context, filter string) ([]string, error) {
	kv, err := s.Presence(ctx)
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("list presence keys: %w", err)
	}
	var out []string
	for k := range lister.Keys() {
		out = append(out, k)
	}
	return out, nil
}

// Conns lists the live connections of a principal ("" uuid: of every principal of kind).
func (s *Store) Conns(ctx context.Context, kind, uuid string) ([]Conn, error) {
	if uuid == "" {
		return s.conns(ctx, "conn."+kind+".>")
	}
	return s.conns(ctx, "conn."+kind+"."+uuid+".>")
}

// ConnsOfReplica lists the live connections a websocket replica reported.
func (s *Store) ConnsOfReplica(ctx context.Context, replica string) ([]Conn, error) {
	return s.conns(ctx, "conn.*.*."+replica+".*")
}

func (s *Store) conns(ctx context.Context, filter string) ([]Conn, error) {
	keys, err := s.keys(ctx, filter)
	if err != nil {
		return nil, err
	}
	out := make([]Conn, 0, len(keys))
	for _, k := range keys {
		if c, ok := ParseConnKey(k); ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// OnlineKey is the key of a principal's set of connections.
func OnlineKey(kind, uuid string) string { return "online." + kind + "." + uuid }

// Online returns the uuids of the principals of kind with a live connection.
func (s *Store) Online(ctx context.Context, kind string) (map[string]bool, error) {
	keys, err := s.keys(ctx, "online."+kind+".*")
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[strings.TrimPrefix(k, "online."+kind+".")] = true
	}
	return out, nil
}

// IsOnline reports whether a principal has a live connection.
func (s *Store) IsOnline(ctx context.Context, kind, uuid string) (bool, error) {
	kv, err := s.Presence(ctx)
	if err != nil {
		return false, err
	}
	_, err = kv.Get(ctx, OnlineKey(kind, uuid))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read presence: %w", err)
	}
	return true, nil
}

// Busy returns the uuids of the principals of kind in a session, with the session uuid.
func (s *Store) Busy(ctx context.Context, kind string) (map[string]string, error) {
	kv, err := s.Presence(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := s.keys(ctx, "busy."+kind+".*")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", k, err)
		}
		out[strings.TrimPrefix(k, "busy."+kind+".")] = string(e.Value())
	}
	return out, nil
}

// DeviceStatusOf returns a device's last status JSON, nil when none.
func (s *Store) DeviceStatusOf(ctx context.Context, uuid string) (json.RawMessage, error) {
	kv, err := s.Presence(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, "status."+uuid)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read device status: %w", err)
	}
	return e.Value(), nil
}

// Event wraps events in a TeraEvent with the presence topic, timed like OpenTera's
// datetime.now().timestamp().
func Event(msgs ...proto.Message) (*eventsv1.TeraEvent, error) {
	ev := &eventsv1.TeraEvent{Header: &eventsv1.TeraEvent_Header{Version: 1, Topic: Topic,
		Time: float64(time.Now().UnixMicro()) / 1e6}}
	for _, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			return nil, fmt.Errorf("pack %T: %w", m, err)
		}
		ev.Events = append(ev.Events, a)
	}
	return ev, nil
}

// Publish sends a presence event about a principal.
func Publish(nc *nats.Conn, kind, uuid string, m proto.Message) error {
	ev, err := Event(m)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode presence event: %w", err)
	}
	if err := nc.Publish(SubjectPresence(kind, uuid), b); err != nil {
		return fmt.Errorf("publish presence event: %w", err)
	}
	return nil
}

// Disconnect asks every websocket replica to close a principal's sockets with 4000, as OpenTera's
// CMD_CLIENT_DISCONNECT on TwistedModule.events.<uuid>.
func Disconnect(nc *nats.Conn, kind, uuid, source string) error {
	cmd, err := anypb.New(&eventsv1.ServerCommand{Type: eventsv1.ServerCommand_CMD_CLIENT_DISCONNECT})
	if err != nil {
		return err
	}
	b, err := proto.Marshal(&eventsv1.TeraModuleMessage{
		Head: &eventsv1.TeraModuleMessage_Header{Version: 1, Time: float64(time.Now().UnixMicro()) / 1e6, Source: source},
		Data: []*anypb.Any{cmd},
	})
	if err != nil {
		return err
	}
	if err := nc.Publish(SubjectClient(kind, uuid), b); err != nil {
		return fmt.Errorf("publish disconnect: %w", err)
	}
	return nil
}

// Mirror keeps an in-memory copy of who is online and busy, fed by a watch of the presence
// bucket, for targets that answer presence on every read (core's *_online and *_busy fields)
// without a NATS round trip per request. It lags the bucket by the watch's delivery only.
type Mirror struct {
	store *Store
	mu    sync.RWMutex
	keys  map[string]bool // online.<kind>.<uuid> and busy.<kind>.<uuid>
	ready bool
}

// NewMirror returns a mirror of store's bucket; Run fills it.
func NewMirror(store *Store) *Mirror { return &Mirror{store: store, keys: map[string]bool{}} }

// Run watches the bucket until ctx ends, re-watching after errors (a NATS outage keeps the last
// known state).
func (m *Mirror) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := m.watch(ctx); err == nil || ctx.Err() != nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	return nil
}

func (m *Mirror) watch(ctx context.Context) error {
	kv, err := m.store.Presence(ctx)
	if err != nil {
		return err
	}
	w, err := kv.WatchFiltered(ctx, []string{"online.>", "busy.>"})
	if err != nil {
		return fmt.Errorf("watch presence: %w", err)
	}
	defer func() { _ = w.Stop() }()
	fresh := map[string]bool{}
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("presence watch ended")
			}
			if e == nil { // the current values were delivered: swap them in
				m.mu.Lock()
				m.keys, m.ready = fresh, true
				m.mu.Unlock()
				initial = false
				continue
			}
			live := e.Operation() == jetstream.KeyValuePut
			if initial {
				if live {
					fresh[e.Key()] = true
				} else {
					delete(fresh, e.Key())
				}
				continue
			}
			m.mu.Lock()
			if live {
				m.keys[e.Key()] = true
			} else {
				delete(m.keys, e.Key())
			}
			m.mu.Unlock()
		}
	}
}

// Online and Busy report a principal's presence as last seen (false before the first sync).
func (m *Mirror) Online(kind, uuid string) bool { return m.has("online." + kind + "." + uuid) }
func (m *Mirror) Busy(kind, uuid string) bool   { return m.has("busy." + kind + "." + uuid) }

func (m *Mirror) has(k string) bool {
	if m == nil {
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.keys[k]
}

// DeviceStatus returns a device's last status JSON from the bucket (nil when none, or without
// a mirror). Read on demand: only the devices online or busy have one worth a round trip.
func (m *Mirror) DeviceStatus(ctx context.Context, uuid string) (json.RawMessage, error) {
	if m == nil {
		return nil, nil
	}
	return m.store.DeviceStatusOf(ctx, uuid)
}
