package websocket

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/presence"
)

// hub holds this replica's clients and hands each one the events it may see.
type hub struct {
	s           *Service
	mu          sync.RWMutex
	clients     map[*client]struct{}
	byPrincipal map[string]map[*client]struct{}
	// byKind holds the clients of each principal kind: a presence event is filtered over the
	// kinds that may see it, not over every socket (10,000 participants connecting would
	// otherwise be 10,000² filter checks, for frames that reach a few users).
	byKind map[string]map[*client]struct{}
	// connections counts open sockets by principal kind (user, participant, device).
	connections *prometheus.GaugeVec
}

func newHub(s *Service) *hub {
	h := &hub{s: s, clients: map[*client]struct{}{}, byPrincipal: map[string]map[*client]struct{}{},
		byKind: map[string]map[*client]struct{}{presence.User: {}, presence.Participant: {}, presence.Device: {}},
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tera_websocket_connections",
			Help: "Open websocket connections of this replica by principal kind."}, []string{"kind"})}
	// Zero from the start, so dashboards and alerts see the series before the first client.
	for _, k := range []string{presence.User, presence.Participant, presence.Device} {
		h.connections.WithLabelValues(k)
	}
	return h
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = struct{}{}
	k := c.p.key()
	if h.byPrincipal[k] == nil {
		h.byPrincipal[k] = map[*client]struct{}{}
	}
	h.byPrincipal[k][c] = struct{}{}
	h.byKind[c.p.Kind][c] = struct{}{}
	h.connections.WithLabelValues(c.p.Kind).Inc()
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		h.connections.WithLabelValues(c.p.Kind).Dec()
	}
	delete(h.clients, c)
	delete(h.byKind[c.p.Kind], c)
	k := c.p.key()
	delete(h.byPrincipal[k], c)
	if len(h.byPrincipal[k]) == 0 {
		delete(h.byPrincipal, k)
	}
}

func (h *hub) all() []*client {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		out = append(out, c)
	}
	return out
}

// audience is the clients that may see one of evs (REFERENCE §5): for presence events the kinds
// that can access the principal and the principal's own sockets, for anything else every
// client. The filter decides for each.
func (h *hub) audience(evs []event) []*client {
	var kinds [3]bool // user, participant, device
	var own []string
	for _, e := range evs {
		switch m := e.msg.(type) {
		case *eventsv1.UserEvent:
			kinds[0] = true
		case *eventsv1.ParticipantEvent:
			kinds[0], kinds[2] = true, true
			own = append(own, presence.Participant+"."+m.ParticipantUuid)
		case *eventsv1.DeviceEvent:
			kinds[0], kinds[1] = true, true
			own = append(own, presence.Device+"."+m.DeviceUuid)
		case *eventsv1.ArchiveEvent:
			own = append(own, presence.User+"."+m.OwnerUuid, presence.Participant+"."+m.OwnerUuid, presence.Device+"."+m.OwnerUuid)
		default:
			return h.all()
		}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	seen := map[*client]struct{}{}
	var out []*client
	add := func(set map[*client]struct{}) {
		for c := range set {
			if _, dup := seen[c]; !dup {
				seen[c] = struct{}{}
				out = append(out, c)
			}
		}
	}
	for i, k := range []string{presence.User, presence.Participant, presence.Device} {
		if kinds[i] {
			add(h.byKind[k])
		}
	}
	for _, k := range own {
		add(h.byPrincipal[k])
	}
	return out
}

func (h *hub) of(kind, uuid string) []*client {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*client
	for c := range h.byPrincipal[kind+"."+uuid] {
		out = append(out, c)
	}
	return out
}

// Len is the number of sockets this replica holds.
func (s *Service) Len() int {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return len(s.hub.clients)
}

func (h *hub) closeAll(code websocket.StatusCode, reason string) {
	for _, c := range h.all() {
		c.close(code, reason)
	}
}

// reportAll reports every held connection to usermanager again (after a heartbeat gap made it
// drop them).
func (h *hub) reportAll(ctx context.Context) {
	for _, c := range h.all() {
		if err := h.s.reportOnce(ctx, presence.SubjectConnect, c.conn, presence.ConnectTimeout); err != nil {
			h.s.log.Warn("connection not reported again", "conn", c.conn.Key(), "err", err)
		}
	}
}

// subscribe listens to every subject a client may get events from (ARCHITECTURE §3). Each
// replica subscribes once; filtering picks the clients. Session events (Join, Leave, Stop,
// JoinReply) reach a client on its own subject, tera.client.<kind>.<uuid>, as OpenTera's
// services send them to websocket.<kind>.<uuid>.events: an invitation carries the URL of the
// invitee's kind, and only invitees hear of a session. Their copy on tera.session.<uuid>.* is
// for usermanager (busy) and the SFU, not for clients.
func (h *hub) subscribe() ([]*nats.Subscription, error) {
	nc := h.s.o.NATS
	var subs []*nats.Subscription
	for _, subj := range []string{"tera.presence.>", "tera.service.*.events"} {
		sub, err := nc.Subscribe(subj, func(m *nats.Msg) { h.broadcast(m.Data) })
		if err != nil {
			return nil, fmt.Errorf("subscribe %s: %w", subj, err)
		}
		subs = append(subs, sub)
	}
	sub, err := nc.Subscribe("tera.client.>", h.direct)
	if err != nil {
		return nil, fmt.Errorf("subscribe tera.client.>: %w", err)
	}
	subs = append(subs, sub)
	for _, sub := range subs {
		// Fan-out bursts must not be dropped as a slow consumer by the client library.
		_ = sub.SetPendingLimits(1<<20, 256<<20)
	}
	return subs, nil
}

// event is one decoded event of a TeraEvent.
type event struct {
	any *anypb.Any
	msg proto.Message
}

func decode(data []byte) (*eventsv1.TeraEvent, []event, error) {
	var te eventsv1.TeraEvent
	if err := proto.Unmarshal(data, &te); err != nil {
		return nil, nil, fmt.Errorf("decode TeraEvent: %w", err)
	}
	evs := make([]event, 0, len(te.Events))
	for _, a := range te.Events {
		mt, err := resolve(a.TypeUrl)
		if err != nil {
			continue // OpenTera drops what it cannot unpack
		}
		m := mt.New().Interface()
		if err := proto.Unmarshal(a.Value, m); err != nil {
			continue
		}
		evs = append(evs, event{any: a, msg: m})
	}
	return &te, evs, nil
}

func (h *hub) broadcast(data []byte) {
	te, evs, err := decode(data)
	if err != nil {
		h.s.log.Debug("event dropped", "err", err)
		return
	}
	h.deliver(te, evs, h.audience(evs))
}

// direct handles tera.client.<kind>.<uuid>: a disconnect command, or events for that client
// (filtered like any other, as OpenTera's direct topic is).
func (h *hub) direct(m *nats.Msg) {
	parts := strings.Split(m.Subject, ".")
	if len(parts) != 4 {
		return
	}
	targets := h.of(parts[2], parts[3])
	if len(targets) == 0 {
		return
	}
	te, evs, err := decode(m.Data)
	if err != nil {
		h.s.log.Debug("direct message dropped", "err", err)
		return
	}
	rest := evs[:0:0]
	for _, e := range evs {
		if cmd, ok := e.msg.(*eventsv1.ServerCommand); ok {
			if cmd.Type == eventsv1.ServerCommand_CMD_CLIENT_DISCONNECT {
				for _, c := range targets {
					c.close(4000, "CMD_CLIENT_DISCONNECT")
				}
			}
			continue
		}
		rest = append(rest, e)
	}
	h.deliver(te, rest, targets)
}

// deliver sends each client the events it may see, in one frame with the original header; a
// client that may see none gets nothing. Frames are printed once per distinct selection.
func (h *hub) deliver(te *eventsv1.TeraEvent, evs []event, clients []*client) {
	if len(evs) == 0 || len(clients) == 0 {
		return
	}
	f := newFilter(h.s, evs)
	frames := map[string][]byte{}
	sel := make([]byte, len(evs))
	for _, c := range clients {
		any := false
		for i, e := range evs {
			sel[i] = '0'
			if f.allows(c, e.msg) {
				sel[i] = '1'
				any = true
			}
		}
		if !any {
			continue
		}
		frame, ok := frames[string(sel)]
		if !ok {
			out := &eventsv1.TeraEvent{Header: te.Header}
			for i, e := range evs {
				if sel[i] == '1' {
					out.Events = append(out.Events, e.any)
				}
			}
			b, err := Frame(out)
			if err != nil {
				h.s.log.Warn("frame not printed", "err", err)
				return
			}
			frame = b
			frames[string(sel)] = b
		}
		c.enqueue(frame)
	}
}
