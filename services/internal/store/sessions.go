package store

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// Session is a t_sessions row with what OpenTera's JSON adds: creator names and uuids, asset
// and test counts, its type's name and colour, and (full form only, else nil) its invitees.
type Session struct {
	IDSession              int32                `db:"id_session"`
	SessionUUID            string               `db:"session_uuid"`
	IDSessionType          int32                `db:"id_session_type"`
	IDCreatorUser          *int32               `db:"id_creator_user"`
	IDCreatorDevice        *int32               `db:"id_creator_device"`
	IDCreatorParticipant   *int32               `db:"id_creator_participant"`
	IDCreatorService       *int32               `db:"id_creator_service"`
	SessionName            string               `db:"session_name"`
	SessionStartDatetime   time.Time            `db:"session_start_datetime"`
	SessionDuration        int32                `db:"session_duration"`
	SessionStatus          int32                `db:"session_status"`
	SessionComments        *string              `db:"session_comments"`
	SessionParameters      *string              `db:"session_parameters"`
	CreatorUser            *string              `db:"creator_user"`
	CreatorUserUUID        *string              `db:"creator_user_uuid"`
	CreatorDevice          *string              `db:"creator_device"`
	CreatorDeviceUUID      *string              `db:"creator_device_uuid"`
	CreatorParticipant     *string              `db:"creator_participant"`
	CreatorParticipantUUID *string              `db:"creator_participant_uuid"`
	CreatorService         *string              `db:"creator_service"`
	CreatorServiceUUID     *string              `db:"creator_service_uuid"`
	AssetsCount            int32                `db:"assets_count"`
	TestsCount             int32                `db:"tests_count"`
	SessionTypeName        string               `db:"session_type_name"`
	SessionTypeColor       string               `db:"session_type_color"`
	Participants           []SessionParticipant `db:"participants"`
	Users                  []SessionUser        `db:"users"`
	Devices                []SessionDevice      `db:"devices"`
}

// SessionParticipant, SessionUser and SessionDevice are the invitees listed in a session.
type SessionParticipant struct {
	IDParticipant   int32  `json:"id_participant"`
	ParticipantUUID string `json:"participant_uuid"`
	ParticipantName string `json:"participant_name"`
	IDProject       int32  `json:"id_project"`
	ProjectName     string `json:"project_name"`
}

type SessionUser struct {
	IDUser   int32  `json:"id_user"`
	UserUUID string `json:"user_uuid"`
	UserName string `json:"user_name"`
}

type SessionDevice struct {
	IDDevice   int32  `json:"id_device"`
	DeviceUUID string `json:"device_uuid"`
	DeviceName string `json:"device_name"`
}

// SessionFilter narrows a list of sessions; nil and zero fields do not filter.
type SessionFilter struct {
	ID         *int32  // only that session
	UUID       *string // only the session with that uuid
	Status     *int32
	Start, End *time.Time // compared with the start's date
	Limit      int32      // 0: no limit
	Offset     int32
	Full       bool // with the invitee lists
}

// The queries share one column list and one tail; each selector is its own static statement so
// the planner sees a plain predicate (no "@x IS NULL OR …" on the selective column). The
// selector's ids are fenced (OFFSET 0): otherwise, with LIMIT, PostgreSQL walks the whole
// start-time index filtering every session (3.4 s at 1M sessions instead of under a ms).
const sessionCols = `SELECT s.id_session, s.session_uuid, s.id_session_type, s.id_creator_user, s.id_creator_device,
       s.id_creator_participant, s.id_creator_service, s.session_name, s.session_start_datetime, s.session_duration,
       s.session_status, s.session_comments, s.session_parameters,
       cu.user_firstname || ' ' || cu.user_lastname AS creator_user, cu.user_uuid AS creator_user_uuid,
       cd.device_name AS creator_device, cd.device_uuid AS creator_device_uuid,
       cp.participant_name AS creator_participant, cp.participant_uuid AS creator_participant_uuid,
       cs.service_name AS creator_service, cs.service_uuid AS creator_service_uuid,
       (SELECT count(*)::integer FROM core.t_assets a WHERE a.id_session = s.id_session AND a.deleted_at IS NULL) AS assets_count,
       (SELECT count(*)::integer FROM core.t_tests t WHERE t.id_session = s.id_session AND t.deleted_at IS NULL) AS tests_count,
       st.session_type_name, st.session_type_color,
       CASE WHEN @full::boolean THEN (SELECT coalesce(json_agg(json_build_object('id_participant', p.id_participant,
              'participant_uuid', p.participant_uuid, 'participant_name', p.participant_name, 'id_project', p.id_project,
              'project_name', pr.project_name) ORDER BY sp.id_session_participant), '[]')
         FROM core.t_sessions_participants sp
         JOIN core.t_participants p ON p.id_participant = sp.id_participant AND p.deleted_at IS NULL
         JOIN core.t_projects pr ON pr.id_project = p.id_project
        WHERE sp.id_session = s.id_session AND sp.deleted_at IS NULL) END AS participants,
       CASE WHEN @full::boolean THEN (SELECT coalesce(json_agg(json_build_object('id_user', u.id_user, 'user_uuid', u.user_uuid,
              'user_name', u.user_firstname || ' ' || u.user_lastname) ORDER BY su.id_session_user), '[]')
         FROM core.t_sessions_users su JOIN core.t_users u ON u.id_user = su.id_user AND u.deleted_at IS NULL
        WHERE su.id_session = s.id_session AND su.deleted_at IS NULL) END AS users,
       CASE WHEN @full::boolean THEN (SELECT coalesce(json_agg(json_build_object('id_device', d.id_device, 'device_uuid', d.device_uuid,
              'device_name', d.device_name) ORDER BY sd.id_session_device), '[]')
         FROM core.t_sessions_devices sd JOIN core.t_devices d ON d.id_device = sd.id_device AND d.deleted_at IS NULL
        WHERE sd.id_session = s.id_session AND sd.deleted_at IS NULL) END AS devices
  FROM core.t_sessions s
  JOIN core.t_sessions_types st ON st.id_session_type = s.id_session_type
  LEFT JOIN core.t_users cu ON cu.id_user = s.id_creator_user
  LEFT JOIN core.t_devices cd ON cd.id_device = s.id_creator_device
  LEFT JOIN core.t_participants cp ON cp.id_participant = s.id_creator_participant
  LEFT JOIN core.t_services cs ON cs.id_service = s.id_creator_service
 WHERE s.deleted_at IS NULL AND `

// sessionQuery appends to a selector the filters actually set, each as a plain predicate. No
// filter is written "@x IS NULL OR …": such a statement has no good generic plan, so PostgreSQL
// plans it anew on every execution (~5 ms at 10M sessions, as long as running it). With only the
// predicates in use, each combination is one prepared statement whose generic plan is reused.
func sessionQuery(selector string, kind access.Kind, f SessionFilter) string {
	var b strings.Builder
	b.WriteString(sessionCols)
	b.WriteString(selector)
	if f.ID != nil {
		b.WriteString("\n   AND s.id_session = @only_id")
	}
	if f.UUID != nil {
		b.WriteString("\n   AND s.session_uuid = @only_uuid")
	}
	// A service sees only the sessions of its scope, whatever it lists them by (OpenTera's
	// service API lists every session of a user it sees, its other projects' included).
	if kind == access.Service {
		b.WriteString("\n   AND s.id_session IN (SELECT id FROM core.acc_sessions(@acc_kind::text, @acc_id::integer, false))")
	}
	if f.Status != nil {
		b.WriteString("\n   AND s.session_status = @status")
	}
	if f.Start != nil {
		b.WriteString("\n   AND s.session_start_datetime::date >= @start::date")
	}
	if f.End != nil {
		b.WriteString("\n   AND s.session_start_datetime::date <= @end::date")
	}
	b.WriteString("\n ORDER BY s.session_start_datetime DESC, s.id_session DESC")
	if f.Limit > 0 {
		b.WriteString("\n LIMIT @limit")
	}
	if f.Offset > 0 {
		b.WriteString(" OFFSET @offset")
	}
	return b.String()
}

// The selectors: which sessions, and the access check on what they are listed by.
const (
	byParticipant = `s.id_session IN (SELECT x.id_session FROM (
        SELECT sp.id_session FROM core.t_sessions_participants sp WHERE sp.id_participant = @id AND sp.deleted_at IS NULL
        UNION SELECT c.id_session FROM core.t_sessions c WHERE c.id_creator_participant = @id AND c.deleted_at IS NULL
        OFFSET 0) x)
   AND core.can_participants(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, @id)`

	byUser = `s.id_session IN (SELECT x.id_session FROM (
        SELECT su.id_session FROM core.t_sessions_users su WHERE su.id_user = @id AND su.deleted_at IS NULL
        UNION SELECT c.id_session FROM core.t_sessions c WHERE c.id_creator_user = @id AND c.deleted_at IS NULL
        OFFSET 0) x)
   AND EXISTS (SELECT 1 FROM core.acc_users(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, false) a WHERE a.id = @id)`

	byDevice = `s.id_session IN (SELECT x.id_session FROM (
        SELECT sd.id_session FROM core.t_sessions_devices sd WHERE sd.id_device = @id AND sd.deleted_at IS NULL
        UNION SELECT c.id_session FROM core.t_sessions c WHERE c.id_creator_device = @id AND c.deleted_at IS NULL
        OFFSET 0) x)
   AND core.can_devices(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, @id)`

	// One session by id or uuid, if the caller may see it (OpenTera's query_session for users).
	byID = `(s.id_session = @id OR s.session_uuid = @uuid)
   AND core.can_session(@acc_kind::text, @acc_id::integer, s.id_session)`
)

// SessionSelector says which sessions to list.
type SessionSelector int

const (
	SessionsOfParticipant SessionSelector = iota
	SessionsOfUser
	SessionsOfDevice
)

// ListSessions returns the sessions of one participant, user or device, newest first, if the
// caller may see that participant, user or device (else none).
func ListSessions(ctx context.Context, db DBTX, scope access.Scope, by SessionSelector, id int32, f SessionFilter) ([]Session, error) {
	return querySessions(ctx, db, SessionsQuery(scope, by, f), SessionArgs(scope, id, f))
}

// SessionsQuery is the statement ListSessions runs (exported for EXPLAIN in benchmarks).
func SessionsQuery(scope access.Scope, by SessionSelector, f SessionFilter) string {
	sel := map[SessionSelector]string{SessionsOfParticipant: byParticipant, SessionsOfUser: byUser, SessionsOfDevice: byDevice}[by]
	return sessionQuery(sel, scope.Caller().Kind, f)
}

// SessionArgs are the arguments of the ListSessions queries (exported for EXPLAIN in benchmarks).
func SessionArgs(scope access.Scope, id int32, f SessionFilter) pgx.NamedArgs {
	return scope.Args(f.args(pgx.NamedArgs{"id": id}))
}

// GetSession returns the session with that id (or, id 0, that uuid) if the user may see it;
// ErrNotFound otherwise.
func GetSession(ctx context.Context, db DBTX, scope access.Scope, id int32, uuid string, full bool) (Session, error) {
	f := SessionFilter{Full: full}
	out, err := querySessions(ctx, db, sessionQuery(byID, scope.Caller().Kind, f), scope.Projects().With(f.args(pgx.NamedArgs{"id": id, "uuid": uuid})))
	if err != nil {
		return Session{}, err
	}
	if len(out) == 0 {
		return Session{}, ErrNotFound
	}
	return out[0], nil
}

func (f SessionFilter) args(a pgx.NamedArgs) pgx.NamedArgs {
	a["status"], a["start"], a["end"], a["offset"], a["full"] = f.Status, f.Start, f.End, f.Offset, f.Full
	a["only_id"], a["only_uuid"] = f.ID, f.UUID
	a["limit"] = nil
	if f.Limit > 0 {
		a["limit"] = f.Limit
	}
	return a
}

func querySessions(ctx context.Context, db DBTX, q string, args pgx.NamedArgs) ([]Session, error) {
	rows, err := db.Query(ctx, q, args)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Session])
	return out, mapErr(err)
}

// SessionWrite holds the columns a session write sets; nil ones are left unchanged (on insert,
// the database defaults apply).
type SessionWrite struct {
	IDSessionType                                                  *int32
	Name                                                           *string
	Start                                                          *time.Time
	Duration, Status                                               *int32
	Comments, Parameters                                           *string
	ParametersNull                                                 bool // set session_parameters to NULL
	CreatorUser, CreatorDevice, CreatorParticipant, CreatorService *int32
}

func (w SessionWrite) args() pgx.NamedArgs {
	return pgx.NamedArgs{"type": w.IDSessionType, "name": w.Name, "start": w.Start, "duration": w.Duration,
		"status": w.Status, "comments": w.Comments, "params": w.Parameters, "params_null": w.ParametersNull,
		"cuser": w.CreatorUser, "cdevice": w.CreatorDevice, "cpart": w.CreatorParticipant, "cservice": w.CreatorService}
}

// InsertSession creates a session with a new uuid.
func InsertSession(ctx context.Context, db DBTX, w SessionWrite) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `INSERT INTO core.t_sessions (session_uuid, id_session_type, session_name, session_start_datetime,
		session_duration, session_status, session_comments, session_parameters, id_creator_user, id_creator_device,
		id_creator_participant, id_creator_service)
		VALUES (gen_random_uuid()::text, @type, @name, coalesce(@start, now()), coalesce(@duration, 0), coalesce(@status, 1),
		        @comments, @params, @cuser, @cdevice, @cpart, @cservice)
		RETURNING id_session`, w.args()).Scan(&id)
	return id, mapErr(err)
}

// UpdateSession changes the given columns of a live session.
func UpdateSession(ctx context.Context, db DBTX, id int32, w SessionWrite) error {
	a := w.args()
	a["id"] = id
	tag, err := db.Exec(ctx, `UPDATE core.t_sessions SET id_session_type = coalesce(@type, id_session_type),
		session_name = coalesce(@name, session_name), session_start_datetime = coalesce(@start, session_start_datetime),
		session_duration = coalesce(@duration, session_duration), session_status = coalesce(@status, session_status),
		session_comments = coalesce(@comments, session_comments),
		session_parameters = CASE WHEN @params_null::boolean THEN NULL ELSE coalesce(@params, session_parameters) END,
		id_creator_user = coalesce(@cuser, id_creator_user), id_creator_device = coalesce(@cdevice, id_creator_device),
		id_creator_participant = coalesce(@cpart, id_creator_participant), id_creator_service = coalesce(@cservice, id_creator_service)
		WHERE id_session = @id AND deleted_at IS NULL`, a)
	return affected(tag.RowsAffected(), err)
}

// ReplaceLinks makes the live links of a (in l) exactly bs: others are soft-deleted, missing
// ones soft-inserted (a removed link comes back with its id).
func ReplaceLinks(ctx context.Context, db DBTX, l Link, a int32, bs []int32) error {
	if _, err := db.Exec(ctx, `UPDATE core.`+l.Name+` SET deleted_at = now() WHERE `+l.A+` = $1 AND deleted_at IS NULL
		AND NOT (`+l.B+` = ANY($2))`, a, bs); err != nil {
		return mapErr(err)
	}
	_, err := db.Exec(ctx, `INSERT INTO core.`+l.Name+` AS l (`+l.A+`, `+l.B+`) SELECT $1, b FROM unnest($2::integer[]) b
		ON CONFLICT (`+l.A+`, `+l.B+`) DO UPDATE SET deleted_at = NULL WHERE l.deleted_at IS NOT NULL`, a, bs)
	return mapErr(err)
}

// Inaccessible returns the ids of ids that are not in the fragment's accessible set.
func Inaccessible(ctx context.Context, db DBTX, f access.Fragment, ids []int32) ([]int32, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT x FROM unnest(@ids::integer[]) x WHERE x NOT IN (`+f.SQL+`) ORDER BY x`,
		f.With(pgx.NamedArgs{"ids": ids}))
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	return out, mapErr(err)
}

// SessionInvitees returns a live session's status and invitee ids; ErrNotFound when absent.
// The row is locked so a concurrent start cannot slip between the check and the delete.
func SessionInvitees(ctx context.Context, db DBTX, id int32) (status int32, parts, users, devices []int32, err error) {
	err = db.QueryRow(ctx, `SELECT s.session_status,
		ARRAY(SELECT id_participant FROM core.t_sessions_participants WHERE id_session = s.id_session AND deleted_at IS NULL),
		ARRAY(SELECT id_user FROM core.t_sessions_users WHERE id_session = s.id_session AND deleted_at IS NULL),
		ARRAY(SELECT id_device FROM core.t_sessions_devices WHERE id_session = s.id_session AND deleted_at IS NULL)
		FROM core.t_sessions s WHERE s.id_session = $1 AND s.deleted_at IS NULL FOR UPDATE`, id).Scan(&status, &parts, &users, &devices)
	return status, parts, users, devices, mapErr(err)
}

// ClosePastSessions runs OpenTera's daily cleanup for day if no replica has yet: past sessions
// not started become cancelled, past sessions in progress terminated. ran is false when the
// day was already claimed.
func ClosePastSessions(ctx context.Context, db DBTX, day time.Time) (ran bool, changed int, err error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT core.close_past_sessions($1::date)`, day.Format(time.DateOnly)).Scan(&n); err != nil {
		return false, 0, mapErr(err)
	}
	if n < 0 {
		return false, 0, nil
	}
	return true, n, nil
}

// SessionEvent is a t_sessions_events row.
type SessionEvent struct {
	IDSessionEvent       int32     `db:"id_session_event"`
	IDSession            int32     `db:"id_session"`
	IDSessionEventType   int32     `db:"id_session_event_type"`
	SessionEventDatetime time.Time `db:"session_event_datetime"`
	SessionEventText     *string   `db:"session_event_text"`
	SessionEventContext  *string   `db:"session_event_context"`
}

const eventCols = `SELECT e.id_session_event, e.id_session, e.id_session_event_type, e.session_event_datetime,
       e.session_event_text, e.session_event_context FROM core.t_sessions_events e WHERE e.deleted_at IS NULL AND `

// ListSessionEvents returns the events of a session the user may see, oldest first (none when
// it may not).
func ListSessionEvents(ctx context.Context, db DBTX, scope access.Scope, idSession int32) ([]SessionEvent, error) {
	return queryEvents(ctx, db, eventCols+`e.id_session = @session AND core.can_session(@acc_kind::text, @acc_id::integer, e.id_session)
		ORDER BY e.session_event_datetime, e.id_session_event`, scope.Projects().With(pgx.NamedArgs{"session": idSession}))
}

// GetSessionEvent returns one live event (no access check: callers check its session).
func GetSessionEvent(ctx context.Context, db DBTX, id int32) (SessionEvent, error) {
	out, err := queryEvents(ctx, db, eventCols+`e.id_session_event = @id`, pgx.NamedArgs{"id": id})
	if err != nil {
		return SessionEvent{}, err
	}
	if len(out) == 0 {
		return SessionEvent{}, ErrNotFound
	}
	return out[0], nil
}

func queryEvents(ctx context.Context, db DBTX, q string, args pgx.NamedArgs) ([]SessionEvent, error) {
	rows, err := db.Query(ctx, q, args)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[SessionEvent])
	return out, mapErr(err)
}

// CanSession reports whether the caller may see a live session: a user by OpenTera's
// single-session rule (user_can_session), other principals by their access set (a device: the
// sessions it created or is invited to).
func CanSession(ctx context.Context, db DBTX, scope access.Scope, id int32) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT core.can_session(@acc_kind::text, @acc_id::integer, @id)`, scope.Projects().With(pgx.NamedArgs{"id": id})).Scan(&ok)
	return ok, mapErr(err)
}

// SessionEventWrite holds the columns an event write sets; nil ones are left unchanged.
type SessionEventWrite struct {
	IDSession, Type *int32
	Datetime        *time.Time
	Text, Context   *string
}

func (w SessionEventWrite) args() pgx.NamedArgs {
	return pgx.NamedArgs{"session": w.IDSession, "type": w.Type, "at": w.Datetime, "text": w.Text, "context": w.Context}
}

// InsertSessionEvent creates an event.
func InsertSessionEvent(ctx context.Context, db DBTX, w SessionEventWrite) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `INSERT INTO core.t_sessions_events (id_session, id_session_event_type, session_event_datetime,
		session_event_text, session_event_context) VALUES (@session, @type, @at, @text, @context) RETURNING id_session_event`,
		w.args()).Scan(&id)
	return id, mapErr(err)
}

// UpdateSessionEvent changes the given columns of a live event.
func UpdateSessionEvent(ctx context.Context, db DBTX, id int32, w SessionEventWrite) error {
	a := w.args()
	a["id"] = id
	tag, err := db.Exec(ctx, `UPDATE core.t_sessions_events SET id_session = coalesce(@session, id_session),
		id_session_event_type = coalesce(@type, id_session_event_type), session_event_datetime = coalesce(@at, session_event_datetime),
		session_event_text = coalesce(@text, session_event_text), session_event_context = coalesce(@context, session_event_context)
		WHERE id_session_event = @id AND deleted_at IS NULL`, a)
	return affected(tag.RowsAffected(), err)
}

// DeleteSessionEvent soft-deletes a live event of a session the user may see (ErrNotFound
// otherwise).
func DeleteSessionEvent(ctx context.Context, db DBTX, scope access.Scope, id int32) error {
	tag, err := db.Exec(ctx, `UPDATE core.t_sessions_events e SET deleted_at = now()
		WHERE e.id_session_event = @id AND e.deleted_at IS NULL AND core.can_session(@acc_kind::text, @acc_id::integer, e.id_session)`,
		scope.Args(pgx.NamedArgs{"id": id}))
	return affected(tag.RowsAffected(), err)
}

// InviteeIDs maps the uuids of users, participants or devices (kind "user", "participant",
// "device") to the ids of the live ones; unknown and deleted uuids are left out.
func InviteeIDs(ctx context.Context, db DBTX, kind string, uuids []string) (map[string]int32, error) {
	t, ok := map[string][2]string{"user": {"t_users", "user"}, "participant": {"t_participants", "participant"},
		"device": {"t_devices", "device"}}[kind]
	if !ok {
		return nil, ErrNotFound
	}
	rows, err := db.Query(ctx, `SELECT `+t[1]+`_uuid, id_`+t[1]+` FROM core.`+t[0]+` WHERE `+t[1]+`_uuid = ANY($1) AND deleted_at IS NULL`, uuids)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[string]int32{}
	for rows.Next() {
		var u string
		var id int32
		if err := rows.Scan(&u, &id); err != nil {
			return nil, mapErr(err)
		}
		out[u] = id
	}
	return out, mapErr(rows.Err())
}
