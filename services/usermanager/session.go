package usermanager

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/presence"
)

// onSessionEvent keeps who is busy in which session from the session events (tera.session.>),
// and emits the JOINED_SESSION / LEFT_SESSION events OpenTera's UserManagerModule does. One
// replica handles each message (queue group).
func (s *Service) onSessionEvent(m *nats.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var te eventsv1.TeraEvent
	if err := proto.Unmarshal(m.Data, &te); err != nil {
		return
	}
	for _, a := range te.Events {
		if err := s.sessionEvent(ctx, a); err != nil {
			s.log.Warn("session event not applied", "subject", m.Subject, "err", err)
		}
	}
}

func typeName(a *anypb.Any) string {
	n := a.TypeUrl[strings.LastIndexByte(a.TypeUrl, '.')+1:]
	return n
}

func (s *Service) sessionEvent(ctx context.Context, a *anypb.Any) error {
	var m proto.Message
	switch typeName(a) {
	case "JoinSessionEvent":
		m = &eventsv1.JoinSessionEvent{}
	case "StopSessionEvent":
		m = &eventsv1.StopSessionEvent{}
	case "LeaveSessionEvent":
		m = &eventsv1.LeaveSessionEvent{}
	case "JoinSessionReplyEvent":
		m = &eventsv1.JoinSessionReplyEvent{}
	default:
		return nil
	}
	if err := proto.Unmarshal(a.Value, m); err != nil {
		return fmt.Errorf("decode %s: %w", a.TypeUrl, err)
	}
	switch ev := m.(type) {
	case *eventsv1.JoinSessionEvent:
		return s.setInSession(ctx, ev.SessionUuid, true, map[string][]string{
			presence.User: ev.SessionUsers, presence.Participant: ev.SessionParticipants, presence.Device: ev.SessionDevices})
	case *eventsv1.LeaveSessionEvent:
		return s.setInSession(ctx, ev.SessionUuid, false, map[string][]string{
			presence.User: ev.LeavingUsers, presence.Participant: ev.LeavingParticipants, presence.Device: ev.LeavingDevices})
	case *eventsv1.JoinSessionReplyEvent:
		if ev.JoinReply == eventsv1.JoinSessionReplyEvent_REPLY_ACCEPTED {
			return nil
		}
		who := map[string][]string{}
		for kind, uuid := range map[string]string{presence.User: ev.UserUuid, presence.Participant: ev.ParticipantUuid, presence.Device: ev.DeviceUuid} {
			if uuid != "" {
				who[kind] = []string{uuid}
			}
		}
		return s.setInSession(ctx, ev.SessionUuid, false, who)
	case *eventsv1.StopSessionEvent:
		who := map[string][]string{}
		for _, kind := range []string{presence.User, presence.Participant, presence.Device} {
			busy, err := s.store.Busy(ctx, kind)
			if err != nil {
				return err
			}
			for uuid, session := range busy {
				if session == ev.SessionUuid {
					who[kind] = append(who[kind], uuid)
				}
			}
		}
		return s.setInSession(ctx, ev.SessionUuid, false, who)
	}
	return nil
}

// setInSession marks principals busy in (or out of) a session and emits their JOINED_SESSION or
// LEFT_SESSION events. As OpenTera's registries: joining keeps a session already recorded,
// leaving clears only the session left; the event is sent either way.
func (s *Service) setInSession(ctx context.Context, session string, in bool, who map[string][]string) error {
	kv, err := s.store.Presence(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, kind := range []string{presence.User, presence.Participant, presence.Device} {
		for _, uuid := range who[kind] {
			if !keySafe(uuid) || !keySafe(session) {
				continue
			}
			key := "busy." + kind + "." + uuid
			if in {
				if _, err := kv.Create(ctx, key, []byte(session)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
					errs = append(errs, fmt.Errorf("mark busy: %w", err))
					continue
				}
			} else if e, err := kv.Get(ctx, key); err == nil && string(e.Value()) == session {
				if err := kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil && !isConflict(err) {
					errs = append(errs, fmt.Errorf("clear busy: %w", err))
					continue
				}
			}
			m, err := s.sessionPresenceEvent(ctx, kind, uuid, in)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := presence.Publish(s.o.NATS, kind, uuid, m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Service) sessionPresenceEvent(ctx context.Context, kind, uuid string, in bool) (proto.Message, error) {
	switch kind {
	case presence.User:
		ev := &eventsv1.UserEvent{UserUuid: uuid, Type: eventsv1.UserEvent_USER_LEFT_SESSION}
		if in {
			ev.Type = eventsv1.UserEvent_USER_JOINED_SESSION
		}
		err := s.o.DB.QueryRow(ctx, `SELECT user_firstname || ' ' || user_lastname FROM core.t_users WHERE user_uuid = $1`, uuid).Scan(&ev.UserFullname)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("user of session event: %w", err)
		}
		return ev, nil
	case presence.Participant:
		ev := &eventsv1.ParticipantEvent{ParticipantUuid: uuid, Type: eventsv1.ParticipantEvent_PARTICIPANT_LEFT_SESSION}
		if in {
			ev.Type = eventsv1.ParticipantEvent_PARTICIPANT_JOINED_SESSION
		}
		err := s.o.DB.QueryRow(ctx, `SELECT p.participant_name, pr.project_name, st.site_name FROM core.t_participants p
			JOIN core.t_projects pr ON pr.id_project = p.id_project JOIN core.t_sites st ON st.id_site = pr.id_site
			WHERE p.participant_uuid = $1`, uuid).Scan(&ev.ParticipantName, &ev.ParticipantProjectName, &ev.ParticipantSiteName)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("participant of session event: %w", err)
		}
		return ev, nil
	}
	ev := &eventsv1.DeviceEvent{DeviceUuid: uuid, Type: eventsv1.DeviceEvent_DEVICE_LEFT_SESSION}
	if in {
		ev.Type = eventsv1.DeviceEvent_DEVICE_JOINED_SESSION
	}
	err := s.o.DB.QueryRow(ctx, `SELECT device_name FROM core.t_devices WHERE device_uuid = $1`, uuid).Scan(&ev.DeviceName)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("device of session event: %w", err)
	}
	return ev, nil
}
