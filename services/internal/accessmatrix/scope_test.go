package accessmatrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/access"
)

// scope is an account's scope, frozen before the walk: what it may write (admin-only form of the
// SQL access functions, as OpenTera's write rules) and what it may read.
type scope struct {
	super bool
	// Write scope.
	sites, projects, pgroups, participants, users, ugroups, devices, services, sessions []int32
	// Sites it may create projects on (a user's administered sites, a service's linked sites).
	newProjectSites []int32
	// Read scope (the widest form of each function).
	read map[access.Object][]int32
	// max primary key per table at baseline: rows above it are new.
	max map[string]int64
}

func list(ctx context.Context, db *pgxpool.Pool, sql string, args ...any) ([]int32, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if ids == nil {
		ids = []int32{}
	}
	return ids, err
}

func freezeScope(ctx context.Context, db *pgxpool.Pool, a account) (*scope, error) {
	sc := &scope{read: map[access.Object][]int32{}, max: map[string]int64{}}
	k, id := string(a.kind), a.id
	if err := db.QueryRow(ctx, "SELECT core.is_superadmin($1, $2)", k, id).Scan(&sc.super); err != nil {
		return nil, err
	}
	q := func(fn string, extra string) ([]int32, error) {
		return list(ctx, db, "SELECT DISTINCT id FROM core."+fn+"($1, $2"+extra+") ORDER BY 1", k, id)
	}
	var err error
	if a.kind == access.User {
		for _, x := range []struct {
			dst *[]int32
			fn  string
			ext string
		}{
			{&sc.sites, "acc_sites", ", true"}, {&sc.projects, "acc_projects", ", true"},
			{&sc.pgroups, "acc_participant_groups", ", true"}, {&sc.participants, "acc_participants", ", false"},
			{&sc.users, "acc_users", ", true"}, {&sc.ugroups, "acc_user_groups", ", true, true"},
			{&sc.devices, "acc_devices", ", true"}, {&sc.services, "acc_services", ", true"},
		} {
			if *x.dst, err = q(x.fn, x.ext); err != nil {
				return nil, err
			}
		}
	} else {
		// Participants, devices and services administer nothing; their own row is theirs.
		sc.sites, sc.projects, sc.pgroups, sc.participants, sc.users, sc.ugroups, sc.devices, sc.services =
			[]int32{}, []int32{}, []int32{}, []int32{}, []int32{}, []int32{}, []int32{}, []int32{}
		switch a.kind {
		case access.Participant:
			sc.participants = []int32{id}
		case access.Device:
			sc.devices = []int32{id}
		case access.Service:
			// A service writes what its links give it (the service API): its projects, their
			// groups, participants and devices; it creates projects on its sites.
			for _, x := range []struct {
				dst *[]int32
				fn  string
			}{{&sc.projects, "acc_projects"}, {&sc.pgroups, "acc_participant_groups"}, {&sc.participants, "acc_participants"},
				{&sc.devices, "acc_devices"}, {&sc.newProjectSites, "acc_sites"}} {
				if *x.dst, err = q(x.fn, ", false"); err != nil {
					return nil, err
				}
			}
		}
	}
	if a.kind == access.User {
		sc.newProjectSites = sc.sites
	}
	// Sessions it may write: those it may see (OpenTera's single-session rule) or was part of.
	switch a.kind {
	case access.User:
		sc.sessions, err = list(ctx, db, "SELECT id_session FROM core.t_sessions WHERE core.user_can_session($1, id_session)", id)
	case access.Participant:
		sc.sessions, err = list(ctx, db, `SELECT id_session FROM core.t_sessions WHERE id_creator_participant = $1
			UNION SELECT id_session FROM core.t_sessions_participants WHERE id_participant = $1`, id)
	case access.Device:
		sc.sessions, err = list(ctx, db, `SELECT id_session FROM core.t_sessions WHERE id_creator_device = $1
			UNION SELECT id_session FROM core.t_sessions_devices WHERE id_device = $1`, id)
	default:
		// A service writes the sessions of its scope (created, of its types, of its participants).
		sc.sessions, err = q("acc_sessions", ", false")
	}
	if err != nil {
		return nil, err
	}
	for _, o := range access.AllObjects {
		ext := ", false"
		if o == access.Users || o == access.UserGroups {
			ext = ", false, true"
		}
		if sc.read[o], err = q("acc_"+string(o), ext); err != nil {
			return nil, err
		}
	}
	// The services enabled on a site the account sees are listed as candidates of its links
	// (with_services, as OpenTera): their names are no secret from it.
	onSites, err := list(ctx, db, "SELECT DISTINCT id_service FROM core.t_services_sites WHERE deleted_at IS NULL AND id_site = ANY($1)", sc.read[access.Sites])
	if err != nil {
		return nil, err
	}
	sc.read[access.Services] = union(sc.read[access.Services], onSites)
	if a.kind == access.Service {
		// The service registry is open to every service (GET /api/service/services, as OpenTera).
		all, err := list(ctx, db, "SELECT id_service FROM core.t_services WHERE deleted_at IS NULL")
		if err != nil {
			return nil, err
		}
		sc.read[access.Services] = all
	}
	// Users and user groups are read in both forms (by projects and by sites): take the union.
	for _, o := range []access.Object{access.Users, access.UserGroups} {
		narrow, err := q("acc_"+string(o), ", false, false")
		if err != nil {
			return nil, err
		}
		sc.read[o] = union(sc.read[o], narrow)
	}
	return sc, nil
}

func union(a, b []int32) []int32 {
	m := map[int32]bool{}
	for _, x := range append(append([]int32{}, a...), b...) {
		m[x] = true
	}
	out := make([]int32, 0, len(m))
	for x := range m {
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func contains(l []int32, x int32) bool {
	for _, y := range l {
		if y == x {
			return true
		}
	}
	return false
}

// The write scope of every table, as a SQL predicate on its row t (true = the account may have
// changed it). The sets are the frozen scope plus the rows the account could have created in it
// (above the baseline's max id). A table of schema core without a rule here fails the walk.
const scopeCTE = `WITH
np AS (SELECT id_project FROM core.t_projects WHERE id_project > @max_core_t_projects AND id_site = ANY(@new_project_sites)),
p AS (SELECT unnest(@projects::int[]) AS id UNION SELECT id_project FROM np),
pr AS (SELECT unnest(@projects_read::int[]) AS id UNION SELECT id_project FROM np),
g AS (SELECT unnest(@ugroups::int[]) AS id UNION SELECT id_user_group FROM core.t_users_groups WHERE id_user_group > @max_core_t_users_groups
      -- A group without roles is any site admin's to name and to give roles on its sites (Tera's
      -- PostUserGroup; OpenTera lets a site admin update every group).
      UNION SELECT x.id_user_group FROM core.t_users_groups x WHERE cardinality(@sites::int[]) > 0
         AND NOT EXISTS (SELECT 1 FROM core.t_services_access sa WHERE sa.id_user_group = x.id_user_group AND sa.deleted_at IS NULL)),
u AS (SELECT unnest(@users::int[]) AS id UNION
      SELECT x.id_user FROM core.t_users x WHERE x.id_user > @max_core_t_users AND NOT x.user_superadmin
         AND EXISTS (SELECT 1 FROM core.t_users_users_groups m WHERE m.id_user = x.id_user AND m.deleted_at IS NULL
                      AND m.id_user_group IN (SELECT id FROM g))),
pg AS (SELECT unnest(@pgroups::int[]) AS id UNION
       SELECT id_participant_group FROM core.t_participants_groups WHERE id_participant_group > @max_core_t_participants_groups
          AND id_project IN (SELECT id FROM p)),
pa AS (SELECT unnest(@participants::int[]) AS id UNION
       SELECT id_participant FROM core.t_participants WHERE id_participant > @max_core_t_participants AND id_project IN (SELECT id FROM pr)),
ss AS (SELECT unnest(@sessions::int[]) AS id UNION
       SELECT x.id_session FROM core.t_sessions x WHERE x.id_session > @max_core_t_sessions
          AND CASE @kind WHEN 'user' THEN x.id_creator_user = @me OR core.user_can_session(@me, x.id_session)
                         WHEN 'participant' THEN x.id_creator_participant = @me
                         WHEN 'device' THEN x.id_creator_device = @me
                         ELSE x.id_creator_service = @me END),
cfg AS (SELECT id_service_config AS id FROM core.t_services_configs
         WHERE id_user IN (SELECT id FROM u) OR id_participant IN (SELECT id FROM pa) OR id_device = ANY(@devices))
`

// myUUID is the walking account's uuid, in SQL.
const myUUID = `(CASE @kind WHEN 'user' THEN (SELECT user_uuid FROM core.t_users WHERE id_user = @me)
	  WHEN 'participant' THEN (SELECT participant_uuid FROM core.t_participants WHERE id_participant = @me)
	  WHEN 'device' THEN (SELECT device_uuid FROM core.t_devices WHERE id_device = @me)
	  ELSE (SELECT service_uuid FROM core.t_services WHERE id_service = @me) END)`

var scopeRules = map[string]string{
	"core.t_server_settings":      `false`,
	"core.t_sites":                `t.id_site = ANY(@sites)`,
	"core.t_projects":             `t.id_project IN (SELECT id FROM p) AND t.id_site = ANY(@sites_read)`,
	"core.t_participants_groups":  `t.id_participant_group IN (SELECT id FROM pg) AND t.id_project IN (SELECT id FROM p)`,
	"core.t_participants":         `t.id_participant IN (SELECT id FROM pa) AND t.id_project IN (SELECT id FROM pr)`,
	"core.t_users":                `t.id_user IN (SELECT id FROM u) AND NOT t.user_superadmin`,
	"core.t_users_groups":         `t.id_user_group IN (SELECT id FROM g)`,
	"core.t_users_users_groups":   `t.id_user IN (SELECT id FROM u) AND t.id_user_group IN (SELECT id FROM g)`,
	"core.t_users_preferences":    `t.id_user IN (SELECT id FROM u)`,
	"core.t_devices_types":        `false`,
	"core.t_devices_subtypes":     `false`,
	"core.t_devices":              `t.id_device = ANY(@devices) OR t.id_device > @max_core_t_devices AND EXISTS (SELECT 1 FROM core.t_devices_sites x WHERE x.id_device = t.id_device AND x.id_site = ANY(@sites))`,
	"core.t_devices_sites":        `t.id_site = ANY(@sites)`,
	"core.t_devices_projects":     `t.id_project IN (SELECT id FROM p)`,
	"core.t_devices_participants": `t.id_participant IN (SELECT id FROM pa)`,
	"core.t_services":             `false`,
	// Roles on its projects; a service's own roles are its to create, rename and delete.
	"core.t_services_roles": `t.id_project IN (SELECT id FROM p) OR (@kind = 'service' AND t.id_service = @me)`,
	// A role on a site or project of the scope, whoever holds it (a site admin grants its site's
	// roles to any group, as OpenTera); a global role of a service it administers, held by a
	// group, participant group or device of its scope.
	"core.t_services_access": `EXISTS (SELECT 1 FROM core.t_services_roles r WHERE r.id_service_role = t.id_service_role
	     AND (r.id_project IN (SELECT id FROM p) OR r.id_site = ANY(@sites)
	       OR (r.id_site IS NULL AND r.id_project IS NULL AND r.id_service = ANY(@services)
	           AND (t.id_user_group IN (SELECT id FROM g) OR t.id_participant_group IN (SELECT id FROM pg) OR t.id_device = ANY(@devices)))))`,
	"core.t_services_configs":           `t.id_service_config IN (SELECT id FROM cfg)`,
	"core.t_services_configs_specifics": `t.id_service_config IN (SELECT id FROM cfg)`,
	"core.t_services_projects":          `t.id_project IN (SELECT id FROM p)`,
	"core.t_services_sites":             `t.id_site = ANY(@sites)`,
	"core.t_sessions_types":             `EXISTS (SELECT 1 FROM core.t_sessions_types_sites x WHERE x.id_session_type = t.id_session_type AND x.id_site = ANY(@sites))`,
	"core.t_sessions_types_sites":       `t.id_site = ANY(@sites)`,
	"core.t_sessions_types_projects":    `t.id_project IN (SELECT id FROM p)`,
	"core.t_sessions_types_services":    `EXISTS (SELECT 1 FROM core.t_sessions_types_sites x WHERE x.id_session_type = t.id_session_type AND x.id_site = ANY(@sites))`,
	"core.t_sessions":                   `t.id_session IN (SELECT id FROM ss)`,
	"core.t_sessions_participants":      `t.id_session IN (SELECT id FROM ss)`,
	"core.t_sessions_users":             `t.id_session IN (SELECT id FROM ss)`,
	"core.t_sessions_devices":           `t.id_session IN (SELECT id FROM ss)`,
	"core.t_sessions_events":            `t.id_session IN (SELECT id FROM ss)`,
	"core.t_assets":                     `t.id_session IN (SELECT id FROM ss)`,
	// A test type of a service it administers (DELETE /api/user/testtypes), with its links; a
	// service's own test types are its to write (the service API).
	"core.t_tests_types": `t.id_service = ANY(@services) OR (@kind = 'service' AND t.id_service = @me)`,
	"core.t_tests_types_sites": `EXISTS (SELECT 1 FROM core.t_tests_types x WHERE x.id_test_type = t.id_test_type
	     AND (x.id_service = ANY(@services) OR (@kind = 'service' AND x.id_service = @me)))`,
	"core.t_tests_types_projects": `t.id_project IN (SELECT id FROM p)
	     OR EXISTS (SELECT 1 FROM core.t_tests_types x WHERE x.id_test_type = t.id_test_type
	          AND (x.id_service = ANY(@services) OR (@kind = 'service' AND x.id_service = @me)))`,
	"core.t_tests": `t.id_session IN (SELECT id FROM ss)`,
	// An invitation of its sessions, of a project it sees to an invitee it sees (any reader
	// writes them, as in OpenTera), or, for a service, of its own test types.
	"core.t_tests_invitations": `t.id_session IN (SELECT id FROM ss)
	     OR (@kind = 'service' AND EXISTS (SELECT 1 FROM core.t_tests_types x WHERE x.id_test_type = t.id_test_type AND x.id_service = @me))
	     OR t.id_project IN (SELECT id FROM pr) AND (t.id_user = ANY(@users_read) OR t.id_user IN (SELECT id FROM u)
	        OR t.id_participant = ANY(@participants_read) OR t.id_participant IN (SELECT id FROM pa) OR t.id_device = ANY(@devices_read))`,
	// Derived by triggers from the session links and the participants (migrations 00021, 00024):
	// any row that agrees with a recount is in scope, since what it counts has rules of its own;
	// a drift shows.
	"core.t_project_counts": `(t.sessions, t.participants, t.participants_enabled) = (
	     (SELECT count(*) FROM core.t_sessions_participants sp JOIN core.t_participants x ON x.id_participant = sp.id_participant
	       WHERE x.id_project = t.id_project AND sp.deleted_at IS NULL),
	     (SELECT count(*) FROM core.t_participants x WHERE x.id_project = t.id_project AND x.deleted_at IS NULL),
	     (SELECT count(*) FROM core.t_participants x WHERE x.id_project = t.id_project AND x.deleted_at IS NULL AND x.participant_enabled))`,
	"core.daily_jobs":             `false`,
	"core.t_services_credentials": `false`,
	// Audit trails every request may append to (a failed login names its target); existing rows
	// must never change.
	"logging.t_log_entry": `t.id_log_entry > @max_logging_t_log_entry`,
	"logging.t_logins":    `t.id_login_event > @max_logging_t_logins`,
	// Templates of its sites and projects; e-mails it queued, to no one outside its scope.
	// Files of assets in its sessions; archives it owns (asked for, created, uploaded), with
	// their jobs; a service's also those of the users, participants and devices it reads.
	"filetransfer.t_asset_file_data": `EXISTS (SELECT 1 FROM core.t_assets a WHERE a.asset_uuid = t.asset_uuid AND a.id_session IN (SELECT id FROM ss))`,
	"filetransfer.t_archive_file_data": `t.archive_owner_uuid = ` + myUUID + ` OR @kind = 'service' AND t.archive_owner_uuid IN (
	     SELECT user_uuid FROM core.t_users WHERE id_user = ANY(@users_read)
	     UNION SELECT participant_uuid FROM core.t_participants WHERE id_participant = ANY(@participants_read)
	     UNION SELECT device_uuid FROM core.t_devices WHERE id_device = ANY(@devices_read))`,
	"filetransfer.archive_jobs": `EXISTS (SELECT 1 FROM filetransfer.t_archive_file_data x
	     WHERE x.id_archive_file_data = t.id_archive_file_data AND x.archive_owner_uuid = ` + myUUID + `)`,
	// A live video session of its sessions (started, invited to, stopped through the manager).
	"videorehab.live_sessions": `t.id_session IN (SELECT id FROM ss)`,
	"email.t_email_templates":  `t.id_project IN (SELECT id FROM p) OR t.id_site = ANY(@sites)`,
	"email.queue": `t.id > @max_email_queue AND t.id_user = @me AND NOT (t.recipients && ARRAY(
	     SELECT user_email FROM core.t_users WHERE user_email IS NOT NULL AND id_user <> ALL(@users_read)
	     UNION SELECT participant_email FROM core.t_participants WHERE participant_email IS NOT NULL AND id_participant <> ALL(@participants_read)))`,
}

// Columns a legitimate write changes outside the scope: version ids, last-online stamps (any
// login), and user_2fa_enabled, which OpenTera sets on every superadmin when a site admin
// requires 2FA on its site (REFERENCE §1, t_sites).
var ignoredColumns = []string{"version_id", "user_lastonline", "participant_lastonline", "device_lastonline", "user_2fa_enabled"}

// fingerprinter computes the out-of-scope fingerprint of every table: one statement per table,
// all read in one snapshot. As one UNION ALL of every table the same rows took 0.9–1.4 s a
// fingerprint against ~0.15 s for the statements apart (the scope CTEs, referenced by every
// branch, are then materialized and probed row by row), and the fingerprints were most of the
// matrix's time.
type fingerprinter struct {
	tables, sqls []string
	args         pgx.NamedArgs
}

// tables lists the tables of a schema with their primary key column.
func tables(ctx context.Context, db *pgxpool.Pool, schema string) (map[string]string, error) {
	return textPairs(ctx, db, `SELECT c.relname, a.attname FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
		WHERE i.indisprimary AND n.nspname = $1 AND c.relkind = 'r'`, schema)
}

// textPairs reads a query of two text columns into a map.
func textPairs(ctx context.Context, db *pgxpool.Pool, sql string, args ...any) (map[string]string, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

func newFingerprinter(ctx context.Context, db *pgxpool.Pool, sc *scope, a account) (*fingerprinter, []string, error) {
	var schemas []string
	if err := db.QueryRow(ctx, `SELECT array_agg(nspname ORDER BY nspname) FROM pg_namespace
		WHERE nspname NOT LIKE 'pg\_%' AND nspname NOT IN ('information_schema', 'public')`).Scan(&schemas); err != nil {
		return nil, nil, err
	}
	tabs := map[string]string{}
	for _, sch := range schemas {
		t, err := tables(ctx, db, sch)
		if err != nil {
			return nil, nil, err
		}
		for name, pk := range t {
			tabs[sch+"."+name] = pk
		}
	}
	var problems []string
	names := make([]string, 0, len(tabs))
	for t := range tabs {
		if t == "core.outbox" {
			continue // the events of the writes, not data
		}
		if _, ok := scopeRules[t]; !ok {
			problems = append(problems, fmt.Sprintf("table %s has no write-scope rule in scopeRules", t))
			continue
		}
		names = append(names, t)
	}
	sort.Strings(names)
	args := pgx.NamedArgs{"sites": sc.sites, "projects": sc.projects, "pgroups": sc.pgroups, "participants": sc.participants,
		"users": sc.users, "ugroups": sc.ugroups, "devices": sc.devices, "services": sc.services,
		"projects_read": sc.read[access.Projects], "sites_read": sc.read[access.Sites], "sessions": sc.sessions,
		"kind": string(a.kind), "me": a.id, "new_project_sites": sc.newProjectSites, "users_read": sc.read[access.Users], "participants_read": sc.read[access.Participants],
		"devices_read": sc.read[access.Devices]}
	drop := ""
	for _, c := range ignoredColumns {
		drop += " - '" + c + "'"
	}
	var sqls []string
	for _, t := range names {
		var max int64
		if err := db.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(max(%s)::bigint, 0) FROM %s", tabs[t], t)).Scan(&max); err != nil {
			// A text key (daily_jobs): no new-row detection needed.
			max = 0
		}
		sc.max[t] = max
		args["max_"+strings.ReplaceAll(t, ".", "_")] = max
		sqls = append(sqls, scopeCTE+fmt.Sprintf(`SELECT coalesce(string_agg(x, E'\n' ORDER BY x), '')
			FROM (SELECT (to_jsonb(t)%s)::text AS x FROM %s t WHERE NOT coalesce((%s), false)) s`, drop, t, scopeRules[t]))
	}
	return &fingerprinter{tables: names, sqls: sqls, args: args}, problems, nil
}

// take returns the out-of-scope rows of every table, in one round trip and one snapshot.
func (f *fingerprinter) take(ctx context.Context, db *pgxpool.Pool) (map[string]string, error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	b := &pgx.Batch{}
	for _, q := range f.sqls {
		b.Queue(q, f.args)
	}
	res := tx.SendBatch(ctx, b)
	out := make(map[string]string, len(f.tables))
	for _, t := range f.tables {
		var rows string
		if err := res.QueryRow().Scan(&rows); err != nil {
			_ = res.Close()
			return nil, fmt.Errorf("fingerprint %s: %w", t, err)
		}
		out[t] = rows
	}
	return out, res.Close()
}

// diff names the tables whose out-of-scope rows moved, with the lines that differ.
func diff(before, after map[string]string) []string {
	var out []string
	for t, b := range before {
		a := after[t]
		if a == b {
			continue
		}
		bl, al := lines(b), lines(a)
		var gone, added []string
		for l := range bl {
			if !al[l] {
				gone = append(gone, l)
			}
		}
		for l := range al {
			if !bl[l] {
				added = append(added, l)
			}
		}
		sort.Strings(gone)
		sort.Strings(added)
		out = append(out, fmt.Sprintf("%s:\n      before %s\n      after  %s", t, strings.Join(gone, "\n             "), strings.Join(added, "\n             ")))
	}
	sort.Strings(out)
	return out
}

func lines(s string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			m[l] = true
		}
	}
	return m
}

// outOfScope are the ids, names and uuids an account must never read, by JSON key.
type outOfScope struct {
	ids   map[string]map[int64]bool
	names map[string]map[string]bool
}

// readKinds maps the JSON keys of ids, names and uuids to their object kind and table columns.
var readKinds = []struct {
	obj              access.Object
	table, id        string
	idKeys, nameKeys []string
	nameCol, uuidCol string
}{
	{access.Sites, "t_sites", "id_site", []string{"id_site"}, []string{"site_name"}, "site_name", ""},
	{access.Projects, "t_projects", "id_project", []string{"id_project"}, []string{"project_name"}, "project_name", ""},
	{access.ParticipantGroups, "t_participants_groups", "id_participant_group", []string{"id_participant_group"}, []string{"participant_group_name"}, "participant_group_name", ""},
	{access.Participants, "t_participants", "id_participant", []string{"id_participant"}, []string{"participant_name"}, "participant_name", "participant_uuid"},
	{access.Devices, "t_devices", "id_device", []string{"id_device"}, []string{"device_name"}, "device_name", "device_uuid"},
	{access.SessionTypes, "t_sessions_types", "id_session_type", []string{"id_session_type"}, []string{"session_type_name"}, "session_type_name", ""},
	{access.Services, "t_services", "id_service", []string{"id_service"}, []string{"service_name", "service_key"}, "service_name", "service_uuid"},
	{access.Users, "t_users", "id_user", []string{"id_user"}, []string{"user_username"}, "user_username", "user_uuid"},
	{access.UserGroups, "t_users_groups", "id_user_group", []string{"id_user_group"}, []string{"user_group_name"}, "user_group_name", ""},
	{access.Sessions, "t_sessions", "id_session", []string{"id_session"}, []string{"session_name"}, "session_name", "session_uuid"},
}

func freezeOutOfScope(ctx context.Context, db *pgxpool.Pool, sc *scope) (*outOfScope, error) {
	o := &outOfScope{ids: map[string]map[int64]bool{}, names: map[string]map[string]bool{}}
	for _, k := range readKinds {
		uuid := "NULL"
		if k.uuidCol != "" {
			uuid = k.uuidCol
		}
		rows, err := db.Query(ctx, fmt.Sprintf("SELECT %s, %s, %s FROM core.%s", k.id, k.nameCol, uuid, k.table))
		if err != nil {
			return nil, err
		}
		inNames := map[string]bool{}
		type row struct {
			id   int64
			name string
			uuid *string
		}
		var out []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.name, &r.uuid); err != nil {
				return nil, err
			}
			if contains(sc.read[k.obj], int32(r.id)) {
				inNames[r.name] = true
			} else {
				out = append(out, r)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, r := range out {
			for _, key := range k.idKeys {
				if o.ids[key] == nil {
					o.ids[key] = map[int64]bool{}
				}
				o.ids[key][r.id] = true
			}
			// A name shared with a visible object reveals nothing.
			if !inNames[r.name] {
				for _, key := range k.nameKeys {
					if o.names[key] == nil {
						o.names[key] = map[string]bool{}
					}
					o.names[key][r.name] = true
				}
			}
			if r.uuid != nil && k.uuidCol != "" {
				if o.names[k.uuidCol] == nil {
					o.names[k.uuidCol] = map[string]bool{}
				}
				o.names[k.uuidCol][*r.uuid] = true
			}
		}
	}
	return o, nil
}

// memberLists are the invitees of a session: a session the account sees shows who is in it, as
// OpenTera does (a superadmin taking part, a participant of another site's project with a shared
// device), so they are not checked against the account's scope.
var memberLists = map[string]bool{"session_users": true, "session_participants": true, "session_devices": true}

// sessionOwn are the keys a visible session carries of its own: its type is part of it.
var sessionOwn = map[string]bool{"id_session_type": true, "session_type_name": true}

// ownKeys are, by the key that marks an object, the references a visible object carries of its
// own: a session its type; a participant its group (a device sees its participants, not their
// groups); an asset the service that created it.
var ownKeys = map[string]map[string]bool{
	"session_uuid":     sessionOwn,
	"participant_uuid": {"id_participant_group": true},
	"asset_uuid":       {"id_service": true},
}

// leaks lists what of the out-of-scope set a JSON answer carries, key by key, at any depth.
func (o *outOfScope) leaks(body []byte) []string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var out []string
	var walk func(x any, path string)
	walk = func(x any, path string) {
		switch y := x.(type) {
		case map[string]any:
			own := map[string]bool{}
			for marker, keys := range ownKeys {
				if _, ok := y[marker]; ok {
					for k := range keys {
						own[k] = true
					}
				}
			}
			for k, e := range y {
				if own[k] {
					continue
				}
				switch ev := e.(type) {
				case float64:
					if o.ids[k][int64(ev)] {
						out = append(out, fmt.Sprintf("%s.%s=%v", path, k, ev))
					}
				case string:
					if o.names[k][ev] {
						out = append(out, fmt.Sprintf("%s.%s=%q", path, k, ev))
					}
				}
				if !memberLists[k] {
					walk(e, path+"."+k)
				}
			}
		case []any:
			for i, e := range y {
				walk(e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(v, "")
	sort.Strings(out)
	return out
}
