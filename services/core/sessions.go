package core

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/sessionjson"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/sessions and /api/user/sessions/events.

type sessions struct {
	*Service
	corev1.UnimplementedSessionServiceServer
}

// Session statuses (OpenTera's TeraSessionStatus).
const (
	statusNotStarted = 0
	statusInProgress = 1
	statusTerminated = 4
)

func (s *sessions) GetSessions(ctx context.Context, r *corev1.GetSessionsRequest) (*corev1.GetSessionsResponse, error) {
	// OpenTera refuses a request whose parameters are all unset or falsy.
	if r.IdSession == 0 && r.IdParticipant == 0 && r.IdUser == 0 && r.IdDevice == 0 && r.SessionUuid == "" &&
		r.GetStatus() == 0 && r.Limit == 0 && r.Offset == 0 && r.StartDate == "" && r.EndDate == "" && !r.List && !r.WithSessionType {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	f, err := sessionFilter(r.Status, r.Limit, r.Offset, r.List, r.StartDate, r.EndDate)
	if err != nil {
		return nil, err
	}
	m := caller(ctx)
	var rows []store.Session
	switch {
	case r.IdParticipant != 0:
		rows, err = store.ListSessions(ctx, s.db, m.acc, store.SessionsOfParticipant, r.IdParticipant, f)
	case r.IdSession != 0:
		rows, err = s.one(ctx, m, r.IdSession, "", f.Full)
	case r.IdUser != 0:
		rows, err = store.ListSessions(ctx, s.db, m.acc, store.SessionsOfUser, r.IdUser, f)
	case r.IdDevice != 0:
		rows, err = store.ListSessions(ctx, s.db, m.acc, store.SessionsOfDevice, r.IdDevice, f)
	case r.SessionUuid != "":
		rows, err = s.one(ctx, m, 0, r.SessionUuid, f.Full)
	}
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.Session, 0, len(rows))
	for _, row := range rows {
		out = append(out, sessionProto(row, !r.List, r.WithSessionType))
	}
	return &corev1.GetSessionsResponse{Sessions: out}, nil
}

// sessionFilter reads the filters of a sessions GET (user and service APIs).
func sessionFilter(status *int32, limit, offset int32, list bool, start, end string) (store.SessionFilter, error) {
	f := store.SessionFilter{Status: status, Limit: limit, Offset: offset, Full: !list}
	if limit < 0 || offset < 0 {
		return f, apierr.InvalidArgument("Invalid limit or offset")
	}
	var err error
	if f.Start, err = parseDate(start, "start_date"); err != nil {
		return f, err
	}
	f.End, err = parseDate(end, "end_date")
	return f, err
}

// one is the session with that id or uuid if the caller may see it, else none.
func (s *sessions) one(ctx context.Context, m me, id int32, uuid string, full bool) ([]store.Session, error) {
	row, err := store.GetSession(ctx, s.db, m.acc, id, uuid, full)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return []store.Session{row}, err
}

func parseDate(v, field string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return nil, apierr.InvalidArgument(field + ": invalid date (YYYY-MM-DD): " + v)
	}
	return &t, nil
}

// parseDatetime reads the timestamps OpenTera clients send: ISO 8601 with a "T" or a space, with
// or without fraction and offset (none means UTC).
func parseDatetime(v, field string) (*time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return &t, nil
		}
	}
	return nil, apierr.InvalidArgument(field + ": invalid datetime: " + v)
}

func sessionProto(r store.Session, full, withType bool) *corev1.Session {
	return sessionjson.Session(r, full, withType)
}

// listOf is a list value of messages (marshalling generated messages cannot fail).
func listOf[T any, M proto.Message](items []T, conv func(T) M) *structpb.ListValue {
	return sessionjson.List(items, conv)
}

func (s *sessions) PostSession(ctx context.Context, r *corev1.PostSessionRequest) (*corev1.PostSessionResponse, error) {
	b := r.GetSession()
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing session")
	case b.IdSession == nil:
		return nil, apierr.MissingArgument("Missing id_session")
	case b.GetIdSession() == 0 && b.SessionParticipantsIds == nil && b.SessionUsersIds == nil:
		return nil, apierr.MissingArgument("Missing session participants and users")
	}
	w, err := sessionWrite(b)
	if err != nil {
		return nil, err
	}
	invitees, err := sessionInvitees(b)
	if err != nil {
		return nil, err
	}
	m := caller(ctx)
	id := b.GetIdSession()
	var out store.Session
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if id > 0 {
			if ok, err := store.CanSession(ctx, tx, m.acc, id); err != nil || !ok {
				return errOr(err, apierr.Forbidden("No access to session."))
			}
		}
		if err := s.checkSessionRefs(ctx, tx, m, &w, invitees, id == 0); err != nil {
			return err
		}
		if id > 0 {
			err = store.UpdateSession(ctx, tx, id, w)
		} else {
			id, err = store.InsertSession(ctx, tx, w)
		}
		if err != nil {
			return err
		}
		for i, l := range []store.Link{store.SessionParticipants, store.SessionUsers, store.SessionDevices} {
			if len(invitees[i]) > 0 {
				if err := store.ReplaceLinks(ctx, tx, l, id, invitees[i]); err != nil {
					return err
				}
			}
		}
		out, err = store.GetSession(ctx, tx, m.acc, id, "", true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.PostSessionResponse{Sessions: []*corev1.Session{sessionProto(out, true, false)}}, nil
}

func errOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// sessionWrite validates the body's columns.
func sessionWrite(b *corev1.SessionBody) (store.SessionWrite, error) {
	w := store.SessionWrite{IDSessionType: b.IdSessionType, Name: b.SessionName, Duration: b.SessionDuration, Status: b.SessionStatus,
		Comments: b.SessionComments, CreatorUser: b.IdCreatorUser, CreatorDevice: b.IdCreatorDevice,
		CreatorParticipant: b.IdCreatorParticipant, CreatorService: b.IdCreatorService}
	switch {
	case b.SessionName != nil && strings.TrimSpace(b.GetSessionName()) == "":
		return w, apierr.InvalidArgument("Invalid session_name")
	case b.SessionStatus != nil && (b.GetSessionStatus() < statusNotStarted || b.GetSessionStatus() > statusTerminated):
		return w, apierr.InvalidArgument("Invalid session_status")
	case b.SessionDuration != nil && b.GetSessionDuration() < 0:
		return w, apierr.InvalidArgument("Invalid session_duration")
	case b.GetIdSession() == 0 && (b.IdSessionType == nil || b.SessionName == nil):
		return w, apierr.MissingArgument("Missing id_session_type or session_name")
	}
	if b.SessionStartDatetime != nil {
		t, err := parseDatetime(b.GetSessionStartDatetime(), "session_start_datetime")
		if err != nil {
			return w, err
		}
		w.Start = t
	}
	switch v := b.GetSessionParameters().GetKind().(type) {
	case nil:
	case *structpb.Value_NullValue:
		w.ParametersNull = true
	case *structpb.Value_StringValue:
		w.Parameters = &v.StringValue
	default:
		j, err := b.GetSessionParameters().MarshalJSON()
		if err != nil {
			return w, apierr.InvalidArgument("Invalid session_parameters")
		}
		text := string(j)
		w.Parameters = &text
	}
	return w, nil
}

// sessionInvitees reads the three id lists (participants, users, devices).
func sessionInvitees(b *corev1.SessionBody) ([3][]int32, error) {
	var out [3][]int32
	for i, l := range []*structpb.ListValue{b.SessionParticipantsIds, b.SessionUsersIds, b.SessionDevicesIds} {
		for _, v := range l.GetValues() {
			n, ok := v.GetKind().(*structpb.Value_NumberValue)
			if !ok || n.NumberValue != math.Trunc(n.NumberValue) || n.NumberValue < 1 || n.NumberValue > math.MaxInt32 {
				return out, apierr.InvalidArgument("Invalid id in session invitee list")
			}
			out[i] = append(out[i], int32(n.NumberValue))
		}
	}
	return out, nil
}

// checkSessionRefs refuses invitees, creators and session types the caller cannot see (403, as
// OpenTera for invitees) and makes the caller the creator of a new session given none.
func (s *sessions) checkSessionRefs(ctx context.Context, tx pgx.Tx, m me, w *store.SessionWrite, inv [3][]int32, create bool) error {
	msgs := [3]string{"User doesn't have access to at least one participant of that session.",
		"User doesn't have access to at least one user of that session.",
		"User doesn't have access to at least one device of that session."}
	parts, users, devices := inv[0], inv[1], inv[2]
	if w.CreatorParticipant != nil {
		parts = append(parts, *w.CreatorParticipant)
	}
	if w.CreatorUser != nil {
		users = append(users, *w.CreatorUser)
	}
	if w.CreatorDevice != nil {
		devices = append(devices, *w.CreatorDevice)
	}
	for i, set := range [][]int32{parts, users, devices} {
		f := [3]func() access.Fragment{m.acc.Participants, m.acc.Users, m.acc.Devices}[i]()
		bad, err := store.Inaccessible(ctx, tx, f, set)
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			return apierr.Forbidden(msgs[i])
		}
	}
	for _, c := range []struct {
		id  *int32
		f   access.Fragment
		msg string
	}{{w.CreatorService, m.acc.Services(), "No access to creator service"}, {w.IDSessionType, m.acc.SessionTypes(), "No access to session type"}} {
		if c.id == nil {
			continue
		}
		bad, err := store.Inaccessible(ctx, tx, c.f, []int32{*c.id})
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			return apierr.Forbidden(c.msg)
		}
	}
	if create && w.CreatorUser == nil && w.CreatorDevice == nil && w.CreatorParticipant == nil && w.CreatorService == nil {
		w.CreatorUser = &m.id
	}
	return nil
}

func (s *sessions) DeleteSession(ctx context.Context, r *corev1.DeleteSessionRequest) (*corev1.DeleteSessionResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	m := caller(ctx)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		status, parts, users, devices, err := store.SessionInvitees(ctx, tx, r.GetId())
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Invalid session")
		} else if err != nil {
			return err
		}
		if ok, err := store.CanSession(ctx, tx, m.acc, r.GetId()); err != nil || !ok {
			return errOr(err, apierr.Forbidden("No access to session."))
		}
		checks := []struct {
			ids []int32
			f   access.Fragment
			msg string
		}{
			{parts, m.acc.Participants(), "User doesn't have access to at least one participant of that session."},
			{users, m.acc.SiteWide().Users(), "User doesn't have access to at least one user of that session."},
			{devices, m.acc.Devices(), "User doesn't have access to at least one device of that session."},
		}
		for _, c := range checks {
			bad, err := store.Inaccessible(ctx, tx, c.f, c.ids)
			if err != nil {
				return err
			}
			if len(bad) > 0 {
				return apierr.Forbidden(c.msg)
			}
		}
		if status == statusInProgress {
			return apierr.Forbidden("Session is in progress: can't delete that session.")
		}
		return store.Delete(ctx, tx, m.acc, store.Sessions, r.GetId())
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteSessionResponse{}, nil
}

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
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.SessionEvent, 0, len(rows))
	for _, e := range rows {
		out = append(out, eventProto(e))
	}
	return &corev1.GetSessionEventsResponse{SessionEvents: out}, nil
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
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	m := caller(ctx)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		e, err := store.GetSessionEvent(ctx, tx, r.GetId())
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Invalid session event")
		} else if err != nil {
			return err
		}
		if ok, err := store.CanSession(ctx, tx, m.acc, e.IDSession); err != nil || !ok {
			return errOr(err, apierr.Forbidden("Forbidden"))
		}
		return store.DeleteSessionEvent(ctx, tx, m.acc, r.GetId())
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteSessionEventResponse{}, nil
}
