package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// StatsSelector is the object /api/user/stats reports on.
type StatsSelector int

const (
	StatsOfUserGroup StatsSelector = iota
	StatsOfUser
	StatsOfSite
	StatsOfProject
	StatsOfGroup
	StatsOfSession
	StatsOfParticipant
	StatsOfDevice
)

// The statistics of OpenTera's UserQueryStats, one statement per object, each answering one
// JSON object with OpenTera's keys. A site's and a project's participant and session counts are
// the per-project counts kept by migration 00024's triggers (core.t_project_counts). Counts go
// through the caller's access where OpenTera's do (the users, projects and participants it may
// see); the object itself is checked by the caller of Stats. @parts adds the participants list, @warn the warnings (sites only).
const (
	// The users of a site: holders of an OpenTeraServer role on it or on one of its projects,
	// superadmins left out (OpenTera's query_users_for_site), that the caller sees. The role
	// holders are few whatever the scale (found by the roles' site and project indexes); the
	// caller's users are every user for a superadmin, so they are only asked of the others (the
	// superadmin check is an InitPlan, run once, and the OR stops before the hashed subplan runs).
	siteUsers = `SELECT u.id_user, u.user_enabled, u.user_lastonline, u.version_id,
	       u.user_firstname || ' ' || u.user_lastname AS fullname FROM core.t_users u
	 WHERE u.deleted_at IS NULL AND NOT u.user_superadmin
	   AND u.id_user IN (` + roleHolders + ` AND sr.id_service_role IN (SELECT r.id_service_role FROM core.t_services_roles r WHERE r.id_site = @id
	              UNION ALL SELECT r.id_service_role FROM core.t_projects p JOIN core.t_services_roles r ON r.id_project = p.id_project
	               WHERE p.id_site = @id AND p.deleted_at IS NULL))
	   AND ` + callerSeesUser

	// The users of a project (OpenTera's query_users_for_project): holders of a role on it, or
	// of the admin role on its site (core.user_project_roles), that the caller sees.
	projectUsers = `SELECT u.user_enabled FROM core.t_users u
	 WHERE u.deleted_at IS NULL AND NOT u.user_superadmin
	   AND u.id_user IN (` + roleHolders + ` AND (sr.id_project = @id OR sr.id_project IS NULL AND sr.service_role_name = 'admin'
	              AND sr.id_site = (SELECT p.id_site FROM core.t_projects p WHERE p.id_project = @id)))
	   AND ` + callerSeesUser

	// The holders of OpenTeraServer roles, to be narrowed by "AND (<the roles' condition on sr>)".
	roleHolders = `SELECT uug.id_user FROM core.t_users_users_groups uug
	         JOIN core.t_users_groups g ON g.id_user_group = uug.id_user_group AND g.deleted_at IS NULL
	         JOIN core.t_services_access sa ON sa.id_user_group = uug.id_user_group AND sa.deleted_at IS NULL
	         JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
	         JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
	        WHERE uug.deleted_at IS NULL`
	callerSeesUser = `((SELECT core.is_superadmin(@acc_kind::text, @acc_id::integer))
	        OR u.id_user IN (SELECT x.id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, true) x))`

	// The caller's projects among p's: every one for a superadmin, without listing them all.
	callerSeesProject = `((SELECT core.is_superadmin(@acc_kind::text, @acc_id::integer))
	        OR p.id_project IN (SELECT x.id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, false) x))`

	// One participant's line of the participants list (OpenTera's get_participant_list_stats).
	partLine = `json_build_object('id_participant', pa.id_participant, 'participant_uuid', pa.participant_uuid,
	       'participant_name', pa.participant_name, 'participant_enabled', pa.participant_enabled,
	       'participant_sessions_count', ps.n, 'participant_first_session', ps.first, 'participant_last_session', ps.last,
	       'participant_last_online', core.isoformat(pa.participant_lastonline))`
	partSessions = `LEFT JOIN LATERAL (SELECT count(*) AS n, core.isoformat(min(s.session_start_datetime)) AS first,
	       core.isoformat(max(s.session_start_datetime)) AS last, max(s.session_start_datetime) AS last_t
	  FROM core.t_sessions_participants sp JOIN core.t_sessions s ON s.id_session = sp.id_session AND s.deleted_at IS NULL
	 WHERE sp.id_participant = pa.id_participant AND sp.deleted_at IS NULL) ps ON true`
	months = `((extract(year FROM current_date) - extract(year FROM %[1]s)) * 12 + extract(month FROM current_date) - extract(month FROM %[1]s))::integer`
)

var statsQueries = map[StatsSelector]string{
	StatsOfUserGroup: `WITH m AS (SELECT u.user_enabled FROM core.t_users_users_groups uug
	     JOIN core.t_users u ON u.id_user = uug.id_user AND u.deleted_at IS NULL
	    WHERE uug.id_user_group = @id AND uug.deleted_at IS NULL),
	  r AS (SELECT sr.id_site, sr.id_project, sr.service_role_name AS role FROM core.t_services_access sa
	     JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
	     JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
	    WHERE sa.id_user_group = @id AND sa.deleted_at IS NULL),
	  pr AS (SELECT r.id_project, r.role FROM r WHERE r.id_project IN (SELECT x.id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, false) x)),
	  st AS (SELECT r.id_site, r.role FROM r WHERE r.id_project IS NULL AND r.id_site IN (SELECT x.id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, false) x))
	SELECT json_build_object('users_total_count', (SELECT count(*) FROM m), 'users_enabled_count', (SELECT count(*) FROM m WHERE user_enabled),
	  'projects_total_count', (SELECT count(*) FROM pr), 'projects_admin_count', (SELECT count(*) FROM pr WHERE role = 'admin'),
	  'sites_total_count', (SELECT count(*) FROM st), 'sites_admin_count', (SELECT count(*) FROM st WHERE role = 'admin'))`,

	StatsOfUser: `WITH us AS (SELECT su.id_session FROM core.t_sessions_users su JOIN core.t_sessions s ON s.id_session = su.id_session AND s.deleted_at IS NULL
	    WHERE su.id_user = @id AND su.deleted_at IS NULL),
	  up AS (SELECT DISTINCT pa.id_participant, pa.participant_enabled FROM core.t_sessions_participants sp
	     JOIN core.t_participants pa ON pa.id_participant = sp.id_participant AND pa.deleted_at IS NULL
	    WHERE sp.id_session IN (SELECT id_session FROM us) AND sp.deleted_at IS NULL)
	SELECT json_build_object('sessions_created_total_count', (SELECT count(*) FROM core.t_sessions WHERE id_creator_user = @id AND deleted_at IS NULL),
	  'sessions_total_count', (SELECT count(*) FROM us), 'participants_total_count', (SELECT count(*) FROM up),
	  'participants_enabled_count', (SELECT count(*) FROM up WHERE participant_enabled))`,

	StatsOfSite: `WITH pr AS (SELECT p.id_project FROM core.t_projects p WHERE p.id_site = @id AND p.deleted_at IS NULL AND ` + callerSeesProject + `),
	  c AS (SELECT coalesce(sum(c.participants), 0) AS participants, coalesce(sum(c.participants_enabled), 0) AS enabled,
	           coalesce(sum(c.sessions), 0) AS sessions FROM core.t_project_counts c WHERE c.id_project IN (SELECT id_project FROM pr)),
	  us AS (` + siteUsers + `)
	SELECT json_build_object('users_total_count', (SELECT count(*) FROM us), 'users_enabled_count', (SELECT count(*) FROM us WHERE user_enabled),
	  'projects_count', (SELECT count(*) FROM pr),
	  'participants_groups_count', (SELECT count(*) FROM core.t_participants_groups g WHERE g.id_project IN (SELECT id_project FROM pr) AND g.deleted_at IS NULL),
	  'participants_total_count', (SELECT participants FROM c), 'participants_enabled_count', (SELECT enabled FROM c),
	  'sessions_total_count', (SELECT sessions FROM c),
	  'devices_total_count', (SELECT count(*) FROM core.t_devices_sites ds WHERE ds.id_site = @id AND ds.deleted_at IS NULL))`,

	StatsOfProject: `WITH us AS (` + projectUsers + `),
	  c AS (SELECT coalesce(sum(c.participants), 0) AS participants, coalesce(sum(c.participants_enabled), 0) AS enabled,
	           coalesce(sum(c.sessions), 0) AS sessions FROM core.t_project_counts c WHERE c.id_project = @id),
	  dv AS (SELECT d.device_enabled FROM core.t_devices_projects dp JOIN core.t_devices d ON d.id_device = dp.id_device AND d.deleted_at IS NULL
	    WHERE dp.id_project = @id AND dp.deleted_at IS NULL)
	SELECT json_build_object('users_total_count', (SELECT count(*) FROM us), 'users_enabled_count', (SELECT count(*) FROM us WHERE user_enabled),
	  'participants_groups_count', (SELECT count(*) FROM core.t_participants_groups g WHERE g.id_project = @id AND g.deleted_at IS NULL),
	  'participants_total_count', (SELECT participants FROM c), 'participants_enabled_count', (SELECT enabled FROM c),
	  'devices_total_count', (SELECT count(*) FROM dv), 'devices_enabled_count', (SELECT count(*) FROM dv WHERE device_enabled),
	  'sessions_total_count', (SELECT sessions FROM c))`,

	StatsOfGroup: `WITH pa AS (SELECT pa.id_participant, pa.participant_enabled FROM core.t_participants pa
	    WHERE pa.id_participant_group = @id AND pa.deleted_at IS NULL
	      AND pa.id_participant IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x))
	SELECT json_build_object('participants_total_count', (SELECT count(*) FROM pa), 'participants_enabled_count', (SELECT count(*) FROM pa WHERE participant_enabled),
	  'sessions_total_count', (SELECT count(*) FROM core.t_sessions_participants sp WHERE sp.id_participant IN (SELECT id_participant FROM pa) AND sp.deleted_at IS NULL))`,

	StatsOfSession: `SELECT json_build_object(
	  'users_total_count', (SELECT count(*) FROM core.t_sessions_users x WHERE x.id_session = @id AND x.deleted_at IS NULL),
	  'participants_total_count', (SELECT count(*) FROM core.t_sessions_participants x WHERE x.id_session = @id AND x.deleted_at IS NULL),
	  'devices_total_count', (SELECT count(*) FROM core.t_sessions_devices x WHERE x.id_session = @id AND x.deleted_at IS NULL),
	  'assets_total_count', (SELECT count(*) FROM core.t_assets x WHERE x.id_session = @id AND x.deleted_at IS NULL),
	  'events_total_count', (SELECT count(*) FROM core.t_sessions_events x WHERE x.id_session = @id AND x.deleted_at IS NULL),
	  'tests_total_count', (SELECT count(*) FROM core.t_tests x WHERE x.id_session = @id AND x.deleted_at IS NULL))`,

	StatsOfParticipant: `WITH ss AS (SELECT s.session_duration, s.session_status FROM core.t_sessions_participants sp
	     JOIN core.t_sessions s ON s.id_session = sp.id_session AND s.deleted_at IS NULL
	    WHERE sp.id_participant = @id AND sp.deleted_at IS NULL)
	SELECT json_build_object('sessions_total_count', (SELECT count(*) FROM ss),
	  'sessions_total_time', (SELECT coalesce(sum(session_duration), 0) FROM ss),
	  'sessions_mean_time', (SELECT coalesce(avg(session_duration), 0)::float8 FROM ss),
	  'sessions_planned_count', (SELECT count(*) FROM ss WHERE session_status = 0),
	  'sessions_completed_count', (SELECT count(*) FROM ss WHERE session_status = 2),
	  'sessions_inprogress_count', (SELECT count(*) FROM ss WHERE session_status = 1),
	  'sessions_cancelled_count', (SELECT count(*) FROM ss WHERE session_status = 3),
	  'sessions_terminated_count', (SELECT count(*) FROM ss WHERE session_status = 4),
	  'assets_total_count', (SELECT count(*) FROM core.t_assets a WHERE a.deleted_at IS NULL AND (a.id_participant = @id OR a.id_session IN
	      (SELECT sp.id_session FROM core.t_sessions_participants sp WHERE sp.id_participant = @id AND sp.deleted_at IS NULL))),
	  'tests_total_count', 0)`,

	StatsOfDevice: `SELECT json_build_object(
	  'assets_total_count', (SELECT count(*) FROM core.t_assets x WHERE x.id_device = @id AND x.deleted_at IS NULL),
	  'projects_total_count', (SELECT count(*) FROM core.t_devices_projects x WHERE x.id_device = @id AND x.deleted_at IS NULL),
	  'participants_total_count', (SELECT count(*) FROM core.t_devices_participants x WHERE x.id_device = @id AND x.deleted_at IS NULL),
	  'sessions_total_count', (SELECT count(*) FROM core.t_sessions_devices x WHERE x.id_device = @id AND x.deleted_at IS NULL))`,
}

// The participants lists of with_participants: the participants of the object the caller sees.
var statsParticipants = map[StatsSelector]string{
	StatsOfSite:    `pa.id_project IN (SELECT p.id_project FROM core.t_projects p WHERE p.id_site = @id AND p.deleted_at IS NULL)`,
	StatsOfProject: `pa.id_project = @id`,
	StatsOfGroup:   `pa.id_participant_group = @id`,
}

const statsPartsQuery = `SELECT coalesce(json_agg(` + partLine + ` ORDER BY pa.id_participant), '[]')
  FROM core.t_participants pa ` + partSessions + `
 WHERE pa.deleted_at IS NULL AND pa.id_participant IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x) AND `

// The warnings of a site (OpenTera's with_warnings): enabled participants whose last session is
// 6 months old or more, or who have none and were last changed a month ago or more; enabled
// users (not superadmins) last online 3 months ago or more, or never and changed a month ago.
var siteWarnings = `WITH pa AS (SELECT pa.*, pr.project_name, ps.last, ps.last_t FROM core.t_participants pa
     JOIN core.t_projects pr ON pr.id_project = pa.id_project ` + partSessions + `
    WHERE pa.deleted_at IS NULL AND pa.participant_enabled AND pr.id_site = @id
      AND pa.id_participant IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x)),
  wp AS (SELECT json_build_object('id_participant', id_participant, 'participant_name', participant_name, 'project_name', project_name,
           'last_session', last, 'months', ` + fmt.Sprintf(months, "last_t") + `) AS j, id_participant FROM pa
          WHERE last_t IS NOT NULL AND ` + fmt.Sprintf(months, "last_t") + ` >= 6),
  np AS (SELECT json_build_object('id_participant', id_participant, 'participant_name', participant_name, 'project_name', project_name,
           'last_updated', core.isoformat(to_timestamp(version_id / 1000.0)), 'months', ` + fmt.Sprintf(months, "to_timestamp(version_id / 1000.0)") + `) AS j,
           id_participant FROM pa WHERE last_t IS NULL AND ` + fmt.Sprintf(months, "to_timestamp(version_id / 1000.0)") + ` >= 1),
  us AS (` + siteUsers + `),
  wu AS (SELECT json_build_object('id_user', id_user, 'user_fullname', fullname, 'user_lastonline', core.isoformat(user_lastonline),
           'months', ` + fmt.Sprintf(months, "user_lastonline") + `) AS j, id_user FROM us
          WHERE user_enabled AND user_lastonline IS NOT NULL AND ` + fmt.Sprintf(months, "user_lastonline") + ` >= 3),
  nu AS (SELECT json_build_object('id_user', id_user, 'user_fullname', fullname, 'last_updated', core.isoformat(to_timestamp(version_id / 1000.0)),
           'months', ` + fmt.Sprintf(months, "to_timestamp(version_id / 1000.0)") + `) AS j, id_user FROM us
          WHERE user_enabled AND user_lastonline IS NULL AND ` + fmt.Sprintf(months, "to_timestamp(version_id / 1000.0)") + ` >= 1)
SELECT json_build_object(
  'warning_participants_count', (SELECT count(*) FROM wp), 'warning_participants', (SELECT coalesce(json_agg(j ORDER BY id_participant), '[]') FROM wp),
  'warning_nosession_participants_count', (SELECT count(*) FROM np), 'warning_nosession_participants', (SELECT coalesce(json_agg(j ORDER BY id_participant), '[]') FROM np),
  'warning_users_count', (SELECT count(*) FROM wu), 'warning_users', (SELECT coalesce(json_agg(j ORDER BY id_user), '[]') FROM wu),
  'warning_neverlogged_users_count', (SELECT count(*) FROM nu), 'warning_neverlogged_users', (SELECT coalesce(json_agg(j ORDER BY id_user), '[]') FROM nu))`

// Stats returns OpenTera's statistics of one object as a JSON object: with participants, the
// "participants" list (sites, projects, groups); with warnings, the warning lists (sites). The
// caller checks first that the object is visible.
func Stats(ctx context.Context, db DB, scope access.Scope, by StatsSelector, id int32, participants, warnings bool) (map[string]any, error) {
	args := scope.Args(pgx.NamedArgs{"id": id})
	out := map[string]any{}
	if err := scanJSON(ctx, db, statsQueries[by], args, &out); err != nil {
		return nil, err
	}
	if w, ok := statsParticipants[by]; ok && participants {
		var parts []any
		if err := scanJSON(ctx, db, statsPartsQuery+w, args, &parts); err != nil {
			return nil, err
		}
		out["participants"] = parts
	}
	if by == StatsOfSite && warnings {
		if err := scanJSON(ctx, db, siteWarnings, args, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scanJSON(ctx context.Context, db DB, q string, args pgx.NamedArgs, into any) error {
	var raw []byte
	if err := db.QueryRow(ctx, q, args).Scan(&raw); err != nil {
		return wrap("stats", err)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	return nil
}

// StatsQuery is the counts statement of one selector (exported for EXPLAIN in benchmarks).
func StatsQuery(by StatsSelector) string { return statsQueries[by] }
