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
	if r.IdSession == 0 {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, err := store.ListSessionEvents(ctx, s.db, caller(ctx).acc, r.IdSession)
	out, err := mapRows(ctx, s.Service, rows, err, eventProto)
	return reply(&corev1.GetSessionEventsResponse{SessionEvents: out}, err)
}

// validEventType is OpenTera's SessionEventTypes: 0–14 and the custom events 100–109.
func validEventType(t int32) bool { return (t >= 0 && t <= 14) || (t >= 100 && t <= 109) }

func (s *sessionEvents) PostSessionEvent(ctx context.Context, r *corev1.PostSessionEventRequest) (*corev1.PostSessionEventResponse, error) {
	b := r.GetSessionEvent()
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
	return &corev1.PostSessionEventResponse{SessionEvents: []*corev1.SessionEvent{eventProto(out)}}, nil
}

func (s *sessionEvents) DeleteSessionEvent(ctx context.Context, r *corev1.DeleteSessionEventRequest) (*corev1.DeleteSessionEventResponse, error) {
	m := caller(ctx)
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
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
	return reply(&corev1.DeleteSessionEventResponse{}, err)
}

// ---- /api/service/sessions/events

func (s *serviceAPI) SvcGetSessionEvents(ctx context.Context, r *corev1.SvcGetSessionEventsRequest) (*corev1.SvcGetSessionEventsResponse, error) {
	// OpenTera lists the events of any session; only the service's sessions here.
	res, err := (&sessionEvents{Service: s.Service}).GetSessionEvents(ctx, &corev1.GetSessionEventsRequest{IdSession: r.IdSession})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcGetSessionEventsResponse{SessionEvents: res.SessionEvents}, nil
}

func (s *serviceAPI) SvcPostSessionEvent(ctx context.Context, r *corev1.SvcPostSessionEventRequest) (*corev1.SvcPostSessionEventResponse, error) {
	res, err := (&sessionEvents{Service: s.Service}).PostSessionEvent(ctx, &corev1.PostSessionEventRequest{SessionEvent: r.SessionEvent})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostSessionEventResponse{SessionEvents: res.SessionEvents}, nil
}

func (s *serviceAPI) SvcDeleteSessionEvent(ctx context.Context, r *corev1.SvcDeleteSessionEventRequest) (*corev1.SvcDeleteSessionEventResponse, error) {
	if _, err := (&sessionEvents{Service: s.Service}).DeleteSessionEvent(ctx, &corev1.DeleteSessionEventRequest{Id: r.Id}); err != nil {
		return nil, err
	}
	return &corev1.SvcDeleteSessionEventResponse{}, nil
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
	out, err := (&sessionEvents{Service: s.Service}).PostSessionEvent(ctx, &corev1.PostSessionEventRequest{SessionEvent: r.GetSessionEvent()})
	if err != nil {
		return nil, err
	}
	return &corev1.PostDeviceSessionEventResponse{SessionEvents: out.SessionEvents}, nil
}

func (s *deviceSurface) DeleteDeviceSessionEvent(context.Context, *corev1.DeleteDeviceSessionEventRequest) (*corev1.DeleteDeviceSessionEventResponse, error) {
	return nil, forbiddenForSecurity()
}
