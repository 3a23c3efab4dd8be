package videorehab

import (
	"crypto/rand"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/presence"
)

// batch gathers the events of one request, published once its transaction committed (a
// rolled-back request tells no one).
type batch struct{ msgs []outMsg }

type outMsg struct {
	subject, topic string
	m              proto.Message
}

// toClient sends an event to one client (OpenTera's websocket.<kind>.<uuid>.events).
func (b *batch) toClient(kind, uuid string, m proto.Message) {
	b.msgs = append(b.msgs, outMsg{presence.SubjectClient(kind, uuid), "websocket." + kind + "." + uuid + ".events", m})
}

// toInvitees sends an event to every current invitee of a session.
func (b *batch) toInvitees(l *Live, m proto.Message) {
	for _, k := range kinds {
		for _, u := range *l.invitees(k) {
			b.toClient(k, u, m)
		}
	}
}

// toSession publishes an event on the session's subject (usermanager's busy marking, the SFU).
func (b *batch) toSession(session, event string, m proto.Message) {
	b.msgs = append(b.msgs, outMsg{"tera.session." + session + "." + event, "service." + ServiceKey + ".events", m})
}

func (s *Service) publish(b batch) {
	for _, o := range b.msgs {
		a, err := anypb.New(o.m)
		if err != nil {
			s.o.Log.Error("session event not packed", "err", err)
			continue
		}
		data, err := proto.Marshal(&eventsv1.TeraEvent{Header: &eventsv1.TeraEvent_Header{Version: 1, Topic: o.topic,
			Time: float64(time.Now().UnixMicro()) / 1e6}, Events: []*anypb.Any{a}})
		if err != nil {
			s.o.Log.Error("session event not encoded", "err", err)
			continue
		}
		if err := s.o.NATS.Publish(o.subject, data); err != nil {
			s.o.Log.Warn("session event not published", "subject", o.subject, "err", err)
		}
	}
	// The answer leaves once NATS has the events: a client hears of them no later than of it.
	if len(b.msgs) > 0 {
		if err := s.o.NATS.FlushTimeout(5 * time.Second); err != nil {
			s.o.Log.Warn("session events not flushed", "err", err)
		}
	}
}

// newKey is a random (version 4) uuid, a room's key.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
