package core

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/sessionjson"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/{user,service,device}/sessions/events: one resource, three surfaces.

// ---- /api/user/sessions/events

type sessionEvents struct {
	*Service
	corev1.UnimplementedSessionEventServiceServer
}

func eventProto(e store.SessionEvent) *corev1.SessionEvent { return sessionjson.Event(e) }

func (s *sessionEvents) GetSessionEvents(ctx context.Context, r *corev1.GetSessionEventsRequest) (*corev1.GetSessionEventsResponse, error) {
	out, err := s.listSessionEvents(ctx, r.IdSession)
	return reply(&corev1.GetSessionEventsResponse{SessionEvents: out}, err)
}

// listSessionEvents is the GET of the user and service APIs: what differs between them is the
// caller's scope only.
func (s *Service) listSessionEvents(ctx context.Context, session int32) ([]*corev1.SessionEvent, error) {
	if session == 0 {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, err := store.ListSessionEvents(ctx, s.db, caller(ctx).acc, session)
	return mapRows(ctx, s, rows, err, eventProto)
}

// validEventType is OpenTera's SessionEventTypes: 0–14 and the custom events 100–109.
func validEventType(t int32) bool { return (t >= 0 && t <= 14) || (t >= 100 && t <= 109) }

func (s *sessionEvents) PostSessionEvent(ctx context.Context, r *corev1.PostSessionEventRequest) (*corev1.PostSessionEventResponse, error) {
	out, err := s.postSessionEvent(ctx, r.GetSessionEvent())
	return reply(&corev1.PostSessionEventResponse{SessionEvents: out}, err)
}

// postSessionEvent is the POST of the user, service and device APIs (their session checks are
// the caller's scope, store.CanSession): it writes one event and answers it as a one-item list.
func (s *Service) postSessionEvent(ctx context.Context, b *corev1.SessionEventBody) ([]*corev1.SessionEvent, error) {
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing session_event field")
	case b.IdSession == nil || b.IdSessionEvent == nil:
		return nil, apierr.MissingArgument("Missing id_session or id_session_event fields")
	case b.IdSessionEventType != nil && !validEventType(b.GetIdSessionEventType()):
		return nil, apierr.InvalidArgument("Invalid id_session_event_type")
	case b.GetIdSessionEvent() == 0 && (b.IdSessionEventType == nil || b.SessionEventDatetime == nil):
		return nil, apierr.MissingArgument("Missing id_session_event_type or session_event_datetime")
	}
	w := store.SessionEventWrite{IDSession: b.IdSession, Type: b.IdSessionEventType, Text: b.SessionEventText, Context: b.SessionEventContext}
	if b.SessionEventDatetime != nil {
		t, err := parseDatetime(b.GetSessionEventDatetime(), "session_event_datetime")
		if err != nil {
			return nil, err
		}
		w.Datetime = t
	}
	m := caller(ctx)
	id := b.GetIdSessionEvent()
	var out store.SessionEvent
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		sessionsToCheck := []int32{b.GetIdSession()}
		if id > 0 {
			// Safer than OpenTera: the event's current session must be visible too.
			cur, err := store.GetSessionEvent(ctx, tx, id)
			if errors.Is(err, store.ErrNotFound) {
				return apierr.InvalidArgument("Invalid session event")
			} else if err != nil {
				return err
			}
			sessionsToCheck = append(sessionsToCheck, cur.IDSession)
		}
		for _, sid := range sessionsToCheck {
			if ok, err := store.CanSession(ctx, tx, m.acc, sid); err != nil || !ok {
				return errOr(err, apierr.Forbidden("Forbidden"))
			}
		}
		var err error
		if id > 0 {
			err = store.UpdateSessionEvent(ctx, tx, id, w)
		} else {
			id, err = store.InsertSessionEvent(ctx, tx, w)
		}
		if err != nil {
			return err
		}
		out, err = store.GetSessionEvent(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return []*corev1.SessionEvent{eventProto(out)}, nil
}

func (s *sessionEvents) DeleteSessionEvent(ctx context.Context, r *corev1.DeleteSessionEventRequest) (*corev1.DeleteSessionEventResponse, error) {
	return reply(&corev1.DeleteSessionEventResponse{}, s.deleteSessionEvent(ctx, r.Id))
}

// deleteSessionEvent is the DELETE of the user and service APIs.
func (s *Service) deleteSessionEvent(ctx context.Context, id *int32) error {
	m := caller(ctx)
	return s.deleteByID(ctx, id, func(tx pgx.Tx, id int32) error {
		e, err := store.GetSessionEvent(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Invalid session event")
		} else if err != nil {
			return err
		}
		if ok, err := store.CanSession(ctx, tx, m.acc, e.IDSession); err != nil || !ok {
			return errOr(err, apierr.Forbidden("Forbidden"))
		}
		return store.DeleteSessionEvent(ctx, tx, m.acc, id)
	})
}

// ---- /api/service/sessions/events

func (s *serviceAPI) SvcGetSessionEvents(ctx context.Context, r *corev1.SvcGetSessionEventsRequest) (*corev1.SvcGetSessionEventsResponse, error) {
	// OpenTera lists the events of any session; only the service's sessions here.
	out, err := s.listSessionEvents(ctx, r.IdSession)
	return reply(&corev1.SvcGetSessionEventsResponse{SessionEvents: out}, err)
}

func (s *serviceAPI) SvcPostSessionEvent(ctx context.Context, r *corev1.SvcPostSessionEventRequest) (*corev1.SvcPostSessionEventResponse, error) {
	out, err := s.postSessionEvent(ctx, r.SessionEvent)
	return reply(&corev1.SvcPostSessionEventResponse{SessionEvents: out}, err)
}

func (s *serviceAPI) SvcDeleteSessionEvent(ctx context.Context, r *corev1.SvcDeleteSessionEventRequest) (*corev1.SvcDeleteSessionEventResponse, error) {
	return reply(&corev1.SvcDeleteSessionEventResponse{}, s.deleteSessionEvent(ctx, r.Id))
}

// ---- /api/device/sessions/events

func (s *deviceSurface) GetDeviceSessionEvents(_ context.Context, r *corev1.GetDeviceSessionEventsRequest) (*corev1.GetDeviceSessionEventsResponse, error) {
	if r.IdSession == 0 {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	return nil, forbiddenForSecurity()
}

// PostDeviceSessionEvent is the user API's event write: its session checks (store.CanSession)
// give a device the sessions it created or is invited to, OpenTera's DeviceQuerySessionEvents.
func (s *deviceSurface) PostDeviceSessionEvent(ctx context.Context, r *corev1.PostDeviceSessionEventRequest) (*corev1.PostDeviceSessionEventResponse, error) {
	out, err := s.postSessionEvent(ctx, r.GetSessionEvent())
	return reply(&corev1.PostDeviceSessionEventResponse{SessionEvents: out}, err)
}

func (s *deviceSurface) DeleteDeviceSessionEvent(context.Context, *corev1.DeleteDeviceSessionEventRequest) (*corev1.DeleteDeviceSessionEventResponse, error) {
	return nil, forbiddenForSecurity()
}
