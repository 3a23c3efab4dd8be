package videorehab

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/store"
)

// onPresence follows usermanager's presence events (one replica handles each, queue group) as
// OpenTera's BaseWebRTCService does: an invitee of a live session who comes online is invited
// again, and a session whose creator goes offline is stopped.
func (s *Service) onPresence(m *nats.Msg) {
	var te eventsv1.TeraEvent
	if err := proto.Unmarshal(m.Data, &te); err != nil {
		return
	}
	for _, a := range te.Events {
		var kind, uuid string
		var online, offline bool
		switch {
		case a.MessageIs(&eventsv1.UserEvent{}):
			var e eventsv1.UserEvent
			if a.UnmarshalTo(&e) != nil {
				continue
			}
			kind, uuid = presence.User, e.UserUuid
			online, offline = e.Type == eventsv1.UserEvent_USER_CONNECTED, e.Type == eventsv1.UserEvent_USER_DISCONNECTED
		case a.MessageIs(&eventsv1.ParticipantEvent{}):
			var e eventsv1.ParticipantEvent
			if a.UnmarshalTo(&e) != nil {
				continue
			}
			kind, uuid = presence.Participant, e.ParticipantUuid
			online, offline = e.Type == eventsv1.ParticipantEvent_PARTICIPANT_CONNECTED, e.Type == eventsv1.ParticipantEvent_PARTICIPANT_DISCONNECTED
		case a.MessageIs(&eventsv1.DeviceEvent{}):
			var e eventsv1.DeviceEvent
			if a.UnmarshalTo(&e) != nil {
				continue
			}
			kind, uuid = presence.Device, e.DeviceUuid
			online, offline = e.Type == eventsv1.DeviceEvent_DEVICE_CONNECTED, e.Type == eventsv1.DeviceEvent_DEVICE_DISCONNECTED
		}
		if uuid == "" || !online && !offline {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.presenceChanged(ctx, kind, uuid, online); err != nil {
			s.o.Log.Warn("presence change not applied to video sessions", "kind", kind, "uuid", uuid, "online", online, "err", err)
		}
		cancel()
	}
}

func (s *Service) presenceChanged(ctx context.Context, kind, uuid string, online bool) error {
	lives, err := liveOf(ctx, s.o.DB, kind, uuid)
	if err != nil || len(lives) == 0 {
		return err
	}
	_, self, err := s.self(ctx)
	if err != nil {
		return err
	}
	for _, l := range lives {
		if online {
			if !l.invited(kind, uuid) {
				continue
			}
			row, err := store.GetSession(ctx, s.o.DB, s.scope(self), l.IDSession, "", false)
			if err != nil {
				return err
			}
			var ev batch
			lists := [3][]string{}
			lists[map[string]int{presence.User: 0, presence.Participant: 1, presence.Device: 2}[kind]] = []string{uuid}
			s.joinAll(&ev, &l, row, lists[0], lists[1], lists[2])
			s.publish(ev)
			continue
		}
		if l.CreatorKind != kind || l.CreatorUUID != uuid {
			continue
		}
		var ev batch
		if _, err := s.inSession(ctx, l.IDSession, &ev, func(tx pgx.Tx, l *Live) (answer, error) { return s.stop(ctx, tx, l, &ev) }); err != nil {
			return err
		}
		s.publish(ev)
		s.o.Log.Info("video session stopped: its creator went offline", "session", l.SessionUUID)
	}
	return nil
}
