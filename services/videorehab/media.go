package videorehab

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/store"
	"github.com/tera-health/tera/services/videorehab/signal"
)

// PathSignal is the SFU's signalling websocket, with ?key=<session_key> (and the caller's
// token in Authorization or ?token=).
const PathSignal = "/rehab/signal"

// Admitter admits a user, participant or device to the room of a live session (the room is
// the session's uuid) when it created the session or is one of its current invitees.
type Admitter struct{ DB store.DBTX }

var _ signal.Admitter = Admitter{}

// Admit implements signal.Admitter.
func (a Admitter) Admit(ctx context.Context, key string, c *authn.Caller) (signal.Admission, error) {
	kind := map[authn.Kind]string{authn.KindUser: presence.User, authn.KindParticipant: presence.Participant,
		authn.KindDevice: presence.Device}[c.Kind]
	if kind == "" {
		return signal.Admission{}, signal.ErrNotAdmitted
	}
	l, err := LiveByKey(ctx, a.DB, key)
	if errors.Is(err, store.ErrNotFound) {
		return signal.Admission{}, signal.ErrNotAdmitted
	}
	if err != nil {
		return signal.Admission{}, err
	}
	if !(l.CreatorKind == kind && l.CreatorUUID == c.UUID) && !l.invited(kind, c.UUID) {
		return signal.Admission{}, signal.ErrNotAdmitted
	}
	return signal.Admission{Room: l.SessionUUID}, nil
}

// followSessions closes the room of a stopped session and removes from its room the peers a
// leave names, on every replica (a room lives on one of them).
func (s *Service) followSessions() (*nats.Subscription, error) {
	sub, err := s.o.NATS.Subscribe("tera.session.*.*", s.onSessionEvent)
	if err != nil {
		return nil, fmt.Errorf("subscribe tera.session.*.*: %w", err)
	}
	return sub, nil
}

func (s *Service) onSessionEvent(m *nats.Msg) {
	parts := strings.Split(m.Subject, ".")
	if len(parts) != 4 || (parts[3] != "stop" && parts[3] != "leave") {
		return
	}
	room := s.o.SFU.Lookup(parts[2])
	if room == nil {
		return
	}
	if parts[3] == "stop" {
		for _, p := range room.Peers() {
			p.Close("session stopped")
		}
		return
	}
	var ev eventsv1.TeraEvent
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		s.o.Log.Warn("session event not decoded", "subject", m.Subject, "err", err)
		return
	}
	leaving := map[string]bool{}
	for _, a := range ev.GetEvents() {
		var l eventsv1.LeaveSessionEvent
		if a.UnmarshalTo(&l) != nil {
			continue
		}
		for kind, uuids := range map[string][]string{presence.User: l.LeavingUsers, presence.Participant: l.LeavingParticipants,
			presence.Device: l.LeavingDevices} {
			for _, u := range uuids {
				leaving[kind+"/"+u] = true
			}
		}
	}
	for _, p := range room.Peers() {
		if in := p.Info(); leaving[in.Kind+"/"+in.UUID] {
			p.Close("removed from the session")
		}
	}
}
