package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// ParticipantRow is a t_participants row without its password, with its project, site and
// group names (every form of OpenTera's participant JSON is built from it).
type ParticipantRow struct {
	IDParticipant           int32      `db:"id_participant"`
	ParticipantUUID         string     `db:"participant_uuid"`
	ParticipantName         string     `db:"participant_name"`
	ParticipantUsername     *string    `db:"participant_username"`
	ParticipantEmail        *string    `db:"participant_email"`
	ParticipantTokenEnabled bool       `db:"participant_token_enabled"`
	ParticipantToken        *string    `db:"participant_token"`
	ParticipantLastonline   *time.Time `db:"participant_lastonline"`
	ParticipantEnabled      bool       `db:"participant_enabled"`
	ParticipantLoginEnabled bool       `db:"participant_login_enabled"`
	IDParticipantGroup      *int32     `db:"id_participant_group"`
	IDProject               int32      `db:"id_project"`
	VersionID               int64      `db:"version_id"`
	ProjectEnabled          bool       `db:"project_enabled"`
	IDSite                  int32      `db:"id_site"`
	ProjectName             string     `db:"project_name"`
	ProjectDescription      *string    `db:"project_description"`
	SiteName                string     `db:"site_name"`
	ParticipantGroupName    *string    `db:"participant_group_name"`
	// LastSession is the start of the participant's last session, only with WithLastSession.
	LastSession *time.Time `db:"participant_lastsession"`
}

// ParticipantFilter selects participants; nil fields do not filter.
type ParticipantFilter struct {
	IDParticipant *int32
	Username      *string
	UUID          *string
	Name          *string
	// NameContains keeps the participants whose name contains it (OpenTera's service API search).
	NameContains *string
	IDSite       *int32
	IDProject    *int32
	IDGroup      *int32
	// IDDevice and IDSession keep the participants linked to that device or session.
	IDDevice  *int32
	IDSession *int32
	Enabled   *bool
	// NoGroup keeps participants without a group.
	NoGroup bool
	// WithLastSession fills LastSession (a subquery per row: ask only when shown).
	WithLastSession bool
	// OrderByRecents puts the most recently online first (then by id).
	OrderByRecents bool
	// Limit caps the rows (nil: all).
	Limit *int32
}

// ParticipantsQuery is the SQL of ListParticipants, exported for EXPLAIN in the benchmark.
//
// Users and services see the participants of their projects (acc_projects, a handful of ids,
// so the planner walks the project index); participants and devices see what acc_participants
// gives them (themselves, their linked participants).
const ParticipantsQuery = `
SELECT p.id_participant, p.participant_uuid, p.participant_name, p.participant_username, p.participant_email,
       p.participant_token_enabled, p.participant_token, p.participant_lastonline, p.participant_enabled,
       p.participant_login_enabled, p.id_participant_group, p.id_project, p.version_id,
       pr.project_enabled, pr.id_site, pr.project_name, pr.project_description, st.site_name, g.participant_group_name,
       CASE WHEN @with_last_session::boolean THEN
         (SELECT max(se.session_start_datetime) FROM core.t_sessions_participants sp
            JOIN core.t_sessions se ON se.id_session = sp.id_session AND se.deleted_at IS NULL
           WHERE sp.id_participant = p.id_participant AND sp.deleted_at IS NULL) END AS participant_lastsession
  FROM core.t_participants p
  JOIN core.t_projects pr ON pr.id_project = p.id_project
  JOIN core.t_sites st ON st.id_site = pr.id_site
  LEFT JOIN core.t_participants_groups g ON g.id_participant_group = p.id_participant_group
 WHERE p.deleted_at IS NULL
   AND CASE WHEN @acc_kind::text IN ('user', 'service')
       THEN p.id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
       ELSE p.id_participant IN (SELECT id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)) END
   AND (@id_participant::integer IS NULL OR p.id_participant = @id_participant)
   AND (@username::text IS NULL OR p.participant_username = @username)
   AND (@uuid::text IS NULL OR p.participant_uuid = @uuid)
   AND (@name::text IS NULL OR p.participant_name = @name)
   AND (@name_contains::text IS NULL OR strpos(p.participant_name, @name_contains) > 0)
   AND (@id_site::integer IS NULL OR pr.id_site = @id_site)
   AND (@id_project::integer IS NULL OR p.id_project = @id_project)
   AND (@id_group::integer IS NULL OR p.id_participant_group = @id_group)
   AND (@id_device::integer IS NULL OR p.id_participant IN
        (SELECT dp.id_participant FROM core.t_devices_participants dp WHERE dp.id_device = @id_device AND dp.deleted_at IS NULL))
   AND (@id_session::integer IS NULL OR p.id_participant IN
        (SELECT sp.id_participant FROM core.t_sessions_participants sp WHERE sp.id_session = @id_session AND sp.deleted_at IS NULL))
   AND (@enabled::boolean IS NULL OR p.participant_enabled = @enabled)
   AND (NOT @no_group::boolean OR p.id_participant_group IS NULL)
 ORDER BY CASE WHEN @orderby_recents::boolean THEN p.participant_lastonline END DESC NULLS LAST, p.id_participant
 LIMIT @limit::integer`

// ParticipantArgs are the named arguments of ParticipantsQuery for a filter.
func ParticipantArgs(scope access.Scope, f ParticipantFilter) pgx.NamedArgs {
	return scope.Args(pgx.NamedArgs{"id_participant": f.IDParticipant, "username": f.Username, "uuid": f.UUID,
		"name": f.Name, "name_contains": f.NameContains, "id_site": f.IDSite, "id_project": f.IDProject, "id_group": f.IDGroup, "id_device": f.IDDevice,
		"id_session": f.IDSession, "enabled": f.Enabled, "no_group": f.NoGroup, "with_last_session": f.WithLastSession,
		"orderby_recents": f.OrderByRecents, "limit": f.Limit})
}

// ListParticipants returns the participants of the scope that match f.
func ListParticipants(ctx context.Context, db DB, scope access.Scope, f ParticipantFilter) ([]ParticipantRow, error) {
	rows, err := db.Query(ctx, ParticipantsQuery, ParticipantArgs(scope, f))
	if err != nil {
		return nil, wrap("list participants", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[ParticipantRow])
	return out, wrap("list participants", err)
}

// GetParticipant is one participant of the scope (ErrNotFound otherwise).
func GetParticipant(ctx context.Context, db DB, scope access.Scope, id int32) (ParticipantRow, error) {
	rows, err := ListParticipants(ctx, db, scope, ParticipantFilter{IDParticipant: &id})
	if err != nil || len(rows) == 0 {
		return ParticipantRow{}, orNotFound(err)
	}
	return rows[0], nil
}

// ParticipantPatch is a partial write of a participant; nil fields are left unchanged (or take
// the column default on insert). Group is nullable: SetGroup says whether to write it.
type ParticipantPatch struct {
	Name, Username, Email, PasswordHash *string
	Enabled, LoginEnabled, TokenEnabled *bool
	IDProject                           *int32
	SetGroup                            bool
	IDGroup                             *int32
}

func (p ParticipantPatch) args(id int32) pgx.NamedArgs {
	return pgx.NamedArgs{"id_participant": id, "participant_name": p.Name, "participant_username": p.Username,
		"participant_email": p.Email, "participant_password": p.PasswordHash, "participant_enabled": p.Enabled,
		"participant_login_enabled": p.LoginEnabled, "participant_token_enabled": p.TokenEnabled,
		"id_project": p.IDProject, "set_group": p.SetGroup, "id_participant_group": p.IDGroup}
}

// An empty username is stored as NULL (OpenTera: no login by username).
const insertParticipantSQL = `
INSERT INTO core.t_participants (participant_uuid, participant_name, participant_username, participant_email,
       participant_password, participant_enabled, participant_login_enabled, participant_token_enabled,
       id_project, id_participant_group)
SELECT gen_random_uuid()::text, @participant_name, nullif(@participant_username::text, ''), @participant_email,
       @participant_password, coalesce(@participant_enabled::boolean, true), coalesce(@participant_login_enabled::boolean, false),
       coalesce(@participant_token_enabled::boolean, false), @id_project, @id_participant_group
 WHERE @id_project::integer IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
RETURNING id_participant`

const updateParticipantSQL = `
UPDATE core.t_participants
   SET participant_name = coalesce(@participant_name, participant_name),
       participant_username = CASE WHEN @participant_username::text IS NULL THEN participant_username
                                   ELSE nullif(@participant_username, '') END,
       participant_email = coalesce(@participant_email, participant_email),
       participant_password = coalesce(@participant_password, participant_password),
       participant_enabled = coalesce(@participant_enabled, participant_enabled),
       participant_login_enabled = coalesce(@participant_login_enabled, participant_login_enabled),
       participant_token_enabled = coalesce(@participant_token_enabled, participant_token_enabled),
       id_project = coalesce(@id_project, id_project),
       id_participant_group = CASE WHEN @set_group::boolean THEN @id_participant_group ELSE id_participant_group END
 WHERE id_participant = @id_participant AND deleted_at IS NULL
   AND id_participant IN (SELECT id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (@id_project::integer IS NULL
        OR @id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
RETURNING id_participant`

// InsertParticipant creates a participant in a project of the scope (ErrNotFound otherwise).
func InsertParticipant(ctx context.Context, db DB, scope access.Scope, p ParticipantPatch) (int32, error) {
	return writeID(ctx, db, "insert participant", insertParticipantSQL, scope, p.args(0))
}

// UpdateParticipant changes a participant of the scope, moving it only to a project of the
// scope (ErrNotFound otherwise).
func UpdateParticipant(ctx context.Context, db DB, scope access.Scope, id int32, p ParticipantPatch) error {
	_, err := writeID(ctx, db, "update participant", updateParticipantSQL, scope, p.args(id))
	return err
}

// ParticipantTokenState is what decides whether a participant holds a static token.
type ParticipantTokenState struct {
	UUID                  string
	Enabled, TokenEnabled bool
	Token                 *string
}

// GetParticipantTokenState reads it for a participant the caller has just written in its
// transaction (the write was scoped).
func GetParticipantTokenState(ctx context.Context, db DB, id int32) (ParticipantTokenState, error) {
	var st ParticipantTokenState
	err := db.QueryRow(ctx, `SELECT participant_uuid, participant_enabled, participant_token_enabled, participant_token
		FROM core.t_participants WHERE id_participant = $1`, id).Scan(&st.UUID, &st.Enabled, &st.TokenEnabled, &st.Token)
	return st, wrap("participant token state", err)
}

// SetParticipantToken sets a participant's static token (nil clears it).
func SetParticipantToken(ctx context.Context, db DB, id int32, token *string) error {
	_, err := db.Exec(ctx, `UPDATE core.t_participants SET participant_token = $2 WHERE id_participant = $1`, id, token)
	return wrap("set participant token", err)
}

// GroupProject is the project of the live participant group id; ErrNotFound when none.
func GroupProject(ctx context.Context, db DB, id int32) (int32, error) {
	var p int32
	err := db.QueryRow(ctx, `SELECT id_project FROM core.t_participants_groups WHERE id_participant_group = $1 AND deleted_at IS NULL`, id).Scan(&p)
	return p, wrap("group project", err)
}

// ParticipantDevice is a live device linked to a participant (the participants' full form).
// Only Device's t_devices columns are read.
type ParticipantDevice struct {
	IDParticipant int32
	Device        DeviceRow
}

const participantDevicesSQL = `SELECT dp.id_participant, d.id_device, d.device_uuid, d.device_name, d.id_device_type,
       d.id_device_subtype, d.device_token, d.device_enabled, d.device_onlineable, d.device_config,
       d.device_infos, d.device_notes, d.device_lastonline
  FROM core.t_devices_participants dp JOIN core.t_devices d ON d.id_device = dp.id_device AND d.deleted_at IS NULL
 WHERE dp.id_participant = ANY($1) AND dp.deleted_at IS NULL ORDER BY dp.id_participant, d.id_device`

// ParticipantDevices lists the devices linked to the participants (listed by the caller's scope
// already), by participant and device.
func ParticipantDevices(ctx context.Context, db DB, participants []int32) ([]ParticipantDevice, error) {
	rows, err := db.Query(ctx, participantDevicesSQL, participants)
	if err != nil {
		return nil, wrap("participant devices", err)
	}
	defer rows.Close()
	var out []ParticipantDevice
	for rows.Next() {
		var p ParticipantDevice
		d := &p.Device
		if err := rows.Scan(&p.IDParticipant, &d.IDDevice, &d.DeviceUUID, &d.DeviceName, &d.IDDeviceType, &d.IDDeviceSubtype,
			&d.DeviceToken, &d.DeviceEnabled, &d.DeviceOnlineable, &d.DeviceConfig, &d.DeviceInfos, &d.DeviceNotes, &d.DeviceLastonline); err != nil {
			return nil, wrap("participant devices", err)
		}
		out = append(out, p)
	}
	return out, wrap("participant devices", rows.Err())
}
