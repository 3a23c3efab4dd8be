package core

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/sessions and /api/service/sessions/events

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

func (s *serviceAPI) SvcPostSession(ctx context.Context, r *corev1.SvcPostSessionRequest) (*corev1.SvcPostSessionResponse, error) {
	b := r.GetSession()
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing session")
	case b.IdSession == nil:
		return nil, apierr.MissingArgument("Missing id_session")
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
