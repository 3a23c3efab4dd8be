package core

import (
	"context"
	"errors"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/sessions and /api/service/sessions/events

func (s *serviceAPI) SvcGetSessions(ctx context.Context, r *corev1.SvcGetSessionsRequest) (*corev1.SvcGetSessionsResponse, error) {
	f := store.SessionFilter{Status: r.Status, Limit: r.Limit, Offset: r.Offset, Full: !r.List}
	var err error
	if r.Limit < 0 || r.Offset < 0 {
		return nil, apierr.InvalidArgument("Invalid limit or offset")
	}
	if f.Start, err = parseDate(r.StartDate, "start_date"); err != nil {
		return nil, err
	}
	if f.End, err = parseDate(r.EndDate, "end_date"); err != nil {
		return nil, err
	}
	m := caller(ctx)
	var rows []store.Session
	byWho := func(o access.Object, by store.SessionSelector, id int32) error {
		if err := s.require(ctx, s.db, m, o, id, false, "Forbidden"); err != nil {
			return err
		}
		rows, err = store.ListSessions(ctx, s.db, m.acc, by, id, f)
		return err
	}
	switch {
	case r.IdSession != 0 || r.UuidSession != "":
		var row store.Session
		row, err = store.GetSession(ctx, s.db, m.acc, r.IdSession, r.UuidSession, f.Full)
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.Forbidden("Forbidden")
		}
		rows = []store.Session{row}
	case r.IdParticipant != 0:
		err = byWho(access.Participants, store.SessionsOfParticipant, r.IdParticipant)
	case r.IdUser != 0:
		err = byWho(access.Users, store.SessionsOfUser, r.IdUser)
	case r.IdDevice != 0:
		err = byWho(access.Devices, store.SessionsOfDevice, r.IdDevice)
	default:
		return nil, apierr.MissingArgument("Missing arguments: at least one id is required")
	}
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := &structpb.ListValue{}
	for _, row := range rows {
		v, err := messageValue(sessionProto(row, f.Full, false))
		if err != nil {
			return nil, s.internal(ctx, err)
		}
		if err := s.addSessionExtras(ctx, m, v.GetStructValue(), row, r); err != nil {
			return nil, err
		}
		out.Values = append(out.Values, v)
	}
	return &corev1.SvcGetSessionsResponse{Json: structpb.NewListValue(out)}, nil
}

// addSessionExtras adds OpenTera's session_type object and session_events list when asked.
func (s *serviceAPI) addSessionExtras(ctx context.Context, m me, o *structpb.Struct, row store.Session, r *corev1.SvcGetSessionsRequest) error {
	if r.WithSessionType {
		types, err := store.ListSessionTypes(ctx, s.db, m.acc, store.SessionTypeFilter{TypeID: &row.IDSessionType})
		if err != nil {
			return s.dbError(ctx, err)
		}
		for _, t := range types {
			o.Fields["session_type"], _ = messageValue(sessionTypeProto(t, true))
		}
	}
	if r.WithEvents {
		events, err := store.ListSessionEvents(ctx, s.db, m.acc, row.IDSession)
		if err != nil {
			return s.dbError(ctx, err)
		}
		o.Fields["session_events"] = structpb.NewListValue(listOf(events, eventProto))
	}
	return nil
}

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
