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
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/sessionjson"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/sessions

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
	out, err := mapRows(ctx, s.Service, rows, err, func(row store.Session) *corev1.Session { return sessionProto(row, !r.List, r.WithSessionType) })
	return reply(&corev1.GetSessionsResponse{Sessions: out}, err)
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
	if _, err := bodyID(b, func(b *corev1.SessionBody) *int32 { return b.IdSession }, "session"); err != nil {
		return nil, err
	}
	switch {
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
	m := caller(ctx)
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		status, parts, users, devices, err := store.SessionInvitees(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Invalid session")
		} else if err != nil {
			return err
		}
		if ok, err := store.CanSession(ctx, tx, m.acc, id); err != nil || !ok {
			return errOr(err, apierr.Forbidden("No access to session."))
		}
		for _, c := range []struct {
			ids []int32
			f   access.Fragment
			msg string
		}{
			{parts, m.acc.Participants(), "User doesn't have access to at least one participant of that session."},
			{users, m.acc.SiteWide().Users(), "User doesn't have access to at least one user of that session."},
			{devices, m.acc.Devices(), "User doesn't have access to at least one device of that session."},
		} {
			if bad, err := store.Inaccessible(ctx, tx, c.f, c.ids); err != nil || len(bad) > 0 {
				return errOr(err, apierr.Forbidden(c.msg))
			}
		}
		if status == statusInProgress {
			return apierr.Forbidden("Session is in progress: can't delete that session.")
		}
		return store.Delete(ctx, tx, m.acc, store.Sessions, id)
	})
	return reply(&corev1.DeleteSessionResponse{}, err)
}

// ---- /api/service/sessions

func (s *serviceAPI) SvcGetSessions(ctx context.Context, r *corev1.SvcGetSessionsRequest) (*corev1.SvcGetSessionsResponse, error) {
	f, err := sessionFilter(r.Status, r.Limit, r.Offset, r.List, r.StartDate, r.EndDate)
	if err != nil {
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

func (s *serviceAPI) SvcPostSession(ctx context.Context, r *corev1.SvcPostSessionRequest) (*corev1.SvcPostSessionResponse, error) {
	b := r.GetSession()
	if _, err := bodyID(b, func(b *corev1.SvcSessionBody) *int32 { return b.IdSession }, "session"); err != nil {
		return nil, err
	}
	switch {
	case b.GetIdSession() == 0 && b.IdSessionType == nil:
		return nil, apierr.MissingArgument("Missing id_session_type")
	}
	body := &corev1.SessionBody{IdSession: b.IdSession, IdSessionType: b.IdSessionType, SessionName: b.SessionName,
		SessionStartDatetime: b.SessionStartDatetime, SessionDuration: b.SessionDuration, SessionStatus: b.SessionStatus,
		SessionComments: b.SessionComments, SessionParameters: b.SessionParameters, IdCreatorUser: b.IdCreatorUser,
		IdCreatorDevice: b.IdCreatorDevice, IdCreatorParticipant: b.IdCreatorParticipant, IdCreatorService: b.IdCreatorService}
	// Invitees by uuid, each one the service sees (OpenTera's messages).
	for _, l := range []struct {
		uuids                 []string
		o                     access.Object
		table, idCol, uuidCol string
		msg                   string
		dst                   **structpb.ListValue
	}{
		{b.SessionParticipantsUuids, access.Participants, "t_participants", "id_participant", "participant_uuid",
			"Service doesn't have access to at least one participant of that session.", &body.SessionParticipantsIds},
		{b.SessionUsersUuids, access.Users, "t_users", "id_user", "user_uuid",
			"Service doesn't have access to at least one user of that session.", &body.SessionUsersIds},
		{b.SessionDevicesUuids, access.Devices, "t_devices", "id_device", "device_uuid",
			"Service doesn't have access to at least one device of that session.", &body.SessionDevicesIds},
	} {
		if len(l.uuids) == 0 {
			continue
		}
		ids, err := s.visibleIDs(ctx, l.o, l.table, l.idCol, l.uuidCol, l.uuids)
		if err != nil {
			return nil, err
		}
		if len(ids) != len(distinct(l.uuids)) {
			return nil, apierr.Forbidden(l.msg)
		}
		*l.dst = &structpb.ListValue{}
		for _, id := range ids {
			(*l.dst).Values = append((*l.dst).Values, structpb.NewNumberValue(float64(id)))
		}
	}
	if b.GetIdSession() == 0 {
		if err := s.sessionDefaults(ctx, body); err != nil {
			return nil, err
		}
	}
	res, err := (&sessions{Service: s.Service}).PostSession(ctx, &corev1.PostSessionRequest{Session: body})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostSessionResponse{Sessions: res.Sessions}, nil
}

// sessionDefaults are OpenTera's for a session a service creates: the service as creator, now
// as start, in progress, named after its type ("<type> [<year>.<count>]").
func (s *serviceAPI) sessionDefaults(ctx context.Context, b *corev1.SessionBody) error {
	if b.IdCreatorService == nil && b.IdCreatorUser == nil && b.IdCreatorDevice == nil && b.IdCreatorParticipant == nil {
		b.IdCreatorService = new(serviceID(ctx))
	}
	if b.SessionStartDatetime == nil {
		b.SessionStartDatetime = new(time.Now().UTC().Format(time.RFC3339Nano))
	}
	if b.SessionStatus == nil {
		b.SessionStatus = new(int32(statusInProgress))
	}
	if b.SessionName != nil {
		return nil
	}
	start, err := parseDatetime(b.GetSessionStartDatetime(), "session_start_datetime")
	if err != nil {
		return err
	}
	var name string
	err = s.db.QueryRow(ctx, `SELECT st.session_type_name || ' [' || $2::int || '.' || (SELECT count(*) FROM core.t_sessions) || ']'
		FROM core.t_sessions_types st WHERE st.id_session_type = $1 AND st.deleted_at IS NULL`, b.GetIdSessionType(), start.Year()).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return apierr.Forbidden("No access to session type")
	} else if err != nil {
		return s.dbError(ctx, err)
	}
	b.SessionName = &name
	return nil
}

// visibleIDs maps uuids to the ids of the objects the caller sees (the others are left out).
func (s *serviceAPI) visibleIDs(ctx context.Context, o access.Object, table, idCol, uuidCol string, uuids []string) ([]int32, error) {
	f := caller(ctx).acc.IDs(o)
	rows, err := s.db.Query(ctx, `SELECT `+idCol+` FROM core.`+table+` WHERE `+uuidCol+` = ANY(@uuids) AND deleted_at IS NULL
		AND `+idCol+` IN (`+f.SQL+`) ORDER BY `+idCol, f.With(pgx.NamedArgs{"uuids": uuids}))
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	return ids, s.dbError(ctx, err)
}

func distinct(l []string) map[string]bool {
	out := map[string]bool{}
	for _, x := range l {
		out[x] = true
	}
	return out
}

// ---- /api/participant/sessions and /api/device/sessions

// POST /api/participant/sessions and POST /api/device/sessions: a participant or a device
// creates or updates a session of its own (OpenTera's ParticipantQuerySessions and
// DeviceQuerySessions post, which are the same code but for the creator column).
// ownSessionsOf is the store selector listing a principal's own sessions.
var ownSessionsOf = map[authn.Kind]store.SessionSelector{authn.KindParticipant: store.SessionsOfParticipant, authn.KindDevice: store.SessionsOfDevice}

func (s *Service) postOwnSession(ctx context.Context, b *corev1.OwnSessionBody) (*corev1.Session, error) {
	w, uuids, err := ownSessionWrite(b)
	if err != nil {
		return nil, err
	}
	c, m := authn.FromContext(ctx), caller(ctx)
	me := int32(c.ID)
	// The creator is always the caller (OpenTera: "avoid identity theft").
	if c.Kind == authn.KindParticipant {
		w.CreatorParticipant = &me
	} else {
		w.CreatorDevice = &me
	}
	id := b.GetIdSession()
	var out store.Session
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if ok, err := m.acc.Can(ctx, tx, access.SessionTypes, b.GetIdSessionType()); err != nil || !ok {
			return errOr(err, apierr.Forbidden("No access to session type"))
		}
		var parts []int32
		if id == 0 {
			var err error
			if id, parts, err = s.findOwnSession(ctx, tx, m, &w, uuids); err != nil {
				return err
			}
		} else if ok, err := store.OwnsSession(ctx, tx, m.acc, id); err != nil || !ok {
			return errOr(err, apierr.Forbidden("Unauthorized"))
		}
		var err error
		if id > 0 {
			// Invitees are left as they are on an update, as OpenTera.
			err = store.UpdateSession(ctx, tx, id, w)
		} else if id, err = store.InsertSession(ctx, tx, w); err == nil && len(parts) > 0 {
			err = store.ReplaceLinks(ctx, tx, store.SessionParticipants, id, parts)
		}
		if err != nil {
			return err
		}
		rows, err := store.ListSessions(ctx, tx, m.acc, ownSessionsOf[c.Kind], me, store.SessionFilter{ID: &id, Full: true})
		if err == nil && len(rows) == 0 {
			err = store.ErrNotFound
		}
		if err == nil {
			out = rows[0]
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return sessionProto(out, true, false), nil
}

// findOwnSession resolves a new session's participants (uuids the caller sees) and applies
// OpenTera's deduplication: an own session with the same name, type, start day and participant
// set is updated instead, keeping its start. id is 0 when there is none.
func (s *Service) findOwnSession(ctx context.Context, tx pgx.Tx, m me, w *store.SessionWrite, uuids []string) (int32, []int32, error) {
	if w.Start == nil {
		return 0, nil, apierr.MissingArgument("Missing argument 'session_start_datetime'")
	}
	if uuids == nil {
		return 0, nil, apierr.MissingArgument("Missing session participants")
	}
	// Safer than OpenTera, which links any participant by uuid: one the caller does not see is
	// refused like an unknown one.
	parts, ok, err := store.VisibleParticipantIDs(ctx, tx, m.acc, uuids)
	if err != nil || !ok {
		return 0, nil, errOr(err, apierr.InvalidArgument("Invalid participant uuid"))
	}
	id, err := store.FindOwnSession(ctx, tx, m.acc, *w.Name, *w.IDSessionType, *w.Start, parts)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, parts, nil
	case err != nil:
		return 0, nil, err
	}
	w.Start = nil
	return id, nil, nil
}

// ownSessionWrite validates a posted session in OpenTera's order and returns its columns and
// the uuids of its participants (nil when absent).
func ownSessionWrite(b *corev1.OwnSessionBody) (store.SessionWrite, []string, error) {
	switch {
	case b == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing session")
	case b.IdSession == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing id_session value")
	case b.IdSessionType == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing id_session_type value")
	case b.GetIdSession() < 0:
		return store.SessionWrite{}, nil, apierr.InvalidArgument("Invalid id_session")
	case b.GetIdSession() == 0 && b.SessionParticipants == nil && b.SessionUsers == nil && b.SessionDevices == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing session participants and/or users and/or devices")
	case b.GetIdSession() == 0 && b.SessionName == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing argument 'session name'")
	}
	w, err := sessionWrite(&corev1.SessionBody{IdSession: b.IdSession, IdSessionType: b.IdSessionType, SessionName: b.SessionName,
		SessionStartDatetime: b.SessionStartDatetime, SessionDuration: b.SessionDuration, SessionStatus: b.SessionStatus,
		SessionComments: b.SessionComments, SessionParameters: b.SessionParameters})
	if err != nil {
		return w, nil, err
	}
	uuids, err := stringList(b.SessionParticipants, "session_participants")
	return w, uuids, err
}

// stringList reads a JSON list of strings (nil when absent).
func stringList(l *structpb.ListValue, field string) ([]string, error) {
	if l == nil {
		return nil, nil
	}
	out := []string{}
	for _, v := range l.GetValues() {
		str, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, apierr.InvalidArgument("Invalid " + field + ": a list of uuids")
		}
		out = append(out, str.StringValue)
	}
	return out, nil
}

func (s *deviceSurface) GetDeviceSessions(context.Context, *corev1.GetDeviceSessionsRequest) (*corev1.GetDeviceSessionsResponse, error) {
	return nil, forbiddenForSecurity()
}

func (s *deviceSurface) PostDeviceSession(ctx context.Context, r *corev1.PostDeviceSessionRequest) (*corev1.PostDeviceSessionResponse, error) {
	out, err := s.postOwnSession(ctx, r.GetSession())
	return reply(&corev1.PostDeviceSessionResponse{Session: out}, err)
}

func (s *deviceSurface) DeleteDeviceSession(context.Context, *corev1.DeleteDeviceSessionRequest) (*corev1.DeleteDeviceSessionResponse, error) {
	return nil, forbiddenForSecurity()
}

func (s *participantSurface) GetParticipantSessions(ctx context.Context, r *corev1.GetParticipantSessionsRequest) (*corev1.GetParticipantSessionsResponse, error) {
	if r.Limit < 0 || r.Offset < 0 {
		return nil, apierr.InvalidArgument("Invalid limit or offset")
	}
	f := store.SessionFilter{ID: nonZero(r.IdSession), Status: r.Status, Limit: r.Limit, Offset: r.Offset, Full: !r.List}
	if r.SessionUuid != "" {
		f.UUID = &r.SessionUuid
	}
	var err error
	if f.Start, err = parseDate(r.StartDate, "start_date"); err != nil {
		return nil, err
	}
	if f.End, err = parseDate(r.EndDate, "end_date"); err != nil {
		return nil, err
	}
	me := int32(authn.FromContext(ctx).ID)
	rows, err := store.ListSessions(ctx, s.db, caller(ctx).acc, store.SessionsOfParticipant, me, f)
	out, err := mapRows(ctx, s.Service, rows, err, func(row store.Session) *corev1.Session { return sessionProto(row, !r.List, false) })
	return reply(&corev1.GetParticipantSessionsResponse{Sessions: out}, err)
}

func (s *participantSurface) PostParticipantSession(ctx context.Context, r *corev1.PostParticipantSessionRequest) (*corev1.PostParticipantSessionResponse, error) {
	out, err := s.postOwnSession(ctx, r.GetSession())
	return reply(&corev1.PostParticipantSessionResponse{Session: out}, err)
}
