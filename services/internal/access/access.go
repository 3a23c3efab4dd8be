// Package access computes OpenTera's access rules (REFERENCE §2) in SQL.
//
// The rules live in the database as inlinable SQL functions (migration 00005_access.sql):
// core.acc_<object>(caller_kind, caller_id, admin_only) returns the ids of <object> the caller
// may see. This package hands out SQL fragments calling them, with pgx named arguments, so a
// query filters by access in the same statement that reads the data:
//
//	f := access.For(caller).Projects()
//	rows, err := db.Query(ctx, `SELECT … FROM core.t_participants p
//	    WHERE p.id_project = @id_project AND p.id_project IN (`+f.SQL+`)`,
//	    f.With(pgx.NamedArgs{"id_project": 7}))
//
// Nothing is loaded into Go and filtered there.
package access

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tera-health/tera/pkg/authn"
)

// Kind is the kind of authenticated principal.
type Kind string

const (
	User        Kind = "user"
	Participant Kind = "participant"
	Device      Kind = "device"
	Service     Kind = "service"
)

// Caller identifies who is asking.
type Caller struct {
	Kind Kind
	ID   int32
}

// FromAuthn is the one mapping from an authenticated principal to the SQL access caller, by
// principal kind; every surface uses it. An anonymous request (nil) is user 0, who sees nothing.
func FromAuthn(c *authn.Caller) Caller {
	if c == nil {
		return Caller{User, 0}
	}
	kind := map[authn.Kind]Kind{authn.KindUser: User, authn.KindParticipant: Participant,
		authn.KindDevice: Device, authn.KindService: Service}[c.Kind]
	if kind == "" {
		// An unknown kind matches no branch of the access functions: nothing is visible.
		kind = "none"
	}
	return Caller{kind, int32(c.ID)}
}

// Caller returns the scope's caller.
func (s Scope) Caller() Caller { return s.c }

// UserCaller, ParticipantCaller, DeviceCaller and ServiceCaller build callers.
func UserCaller(id int32) Caller        { return Caller{User, id} }
func ParticipantCaller(id int32) Caller { return Caller{Participant, id} }
func DeviceCaller(id int32) Caller      { return Caller{Device, id} }
func ServiceCaller(id int32) Caller     { return Caller{Service, id} }

// Object is a kind of object whose accessible ids can be computed.
type Object string

const (
	Sites             Object = "sites"
	Projects          Object = "projects"
	ParticipantGroups Object = "participant_groups"
	Participants      Object = "participants"
	Devices           Object = "devices"
	SessionTypes      Object = "session_types"
	Services          Object = "services"
	Users             Object = "users"
	UserGroups        Object = "user_groups"
	Sessions          Object = "sessions"
	TestTypes         Object = "test_types"
)

// AllObjects lists every Object.
var AllObjects = []Object{Sites, Projects, ParticipantGroups, Participants, Devices, SessionTypes, Services, Users, UserGroups, Sessions, TestTypes}

// Fragment is a SELECT returning one integer column `id`, with the named arguments it uses.
type Fragment struct {
	SQL  string
	Args pgx.NamedArgs
}

// With returns the fragment's arguments merged with extra ones (extra wins on a clash).
func (f Fragment) With(extra pgx.NamedArgs) pgx.NamedArgs {
	out := make(pgx.NamedArgs, len(f.Args)+len(extra))
	for k, v := range f.Args {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// Scope builds fragments for one caller.
type Scope struct {
	c         Caller
	adminOnly bool
	siteWide  bool
}

// For starts a scope for the caller.
func For(c Caller) Scope { return Scope{c: c} }

// AdminOnly restricts to sites/projects where the caller's role is admin (OpenTera's
// admin_only=True).
func (s Scope) AdminOnly() Scope { s.adminOnly = true; return s }

// SiteWide widens Users to site role holders of my projects' sites and UserGroups to groups with a
// role on my sites (OpenTera's include_site_access / by_sites).
func (s Scope) SiteWide() Scope { s.siteWide = true; return s }

func (s Scope) args() pgx.NamedArgs {
	return pgx.NamedArgs{"acc_kind": string(s.c.Kind), "acc_id": s.c.ID, "acc_admin": s.adminOnly, "acc_wide": s.siteWide}
}

// Args returns the named arguments of every access function call (@acc_kind, @acc_id,
// @acc_admin, @acc_wide) merged with extra ones, for static queries that call the functions
// themselves.
func (s Scope) Args(extra pgx.NamedArgs) pgx.NamedArgs {
	out := s.args()
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// IDs returns the fragment for an object kind.
func (s Scope) IDs(o Object) Fragment {
	var call string
	switch o {
	case Users, UserGroups:
		call = fmt.Sprintf("core.acc_%s(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, @acc_wide::boolean)", o)
	default:
		call = fmt.Sprintf("core.acc_%s(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)", o)
	}
	args := s.args()
	if o != Users && o != UserGroups {
		delete(args, "acc_wide")
	}
	return Fragment{SQL: "SELECT id FROM " + call, Args: args}
}

func (s Scope) Sites() Fragment             { return s.IDs(Sites) }
func (s Scope) Projects() Fragment          { return s.IDs(Projects) }
func (s Scope) ParticipantGroups() Fragment { return s.IDs(ParticipantGroups) }
func (s Scope) Participants() Fragment      { return s.IDs(Participants) }
func (s Scope) Devices() Fragment           { return s.IDs(Devices) }
func (s Scope) SessionTypes() Fragment      { return s.IDs(SessionTypes) }
func (s Scope) Services() Fragment          { return s.IDs(Services) }
func (s Scope) Users() Fragment             { return s.IDs(Users) }
func (s Scope) UserGroups() Fragment        { return s.IDs(UserGroups) }
func (s Scope) Sessions() Fragment          { return s.IDs(Sessions) }
func (s Scope) TestTypes() Fragment         { return s.IDs(TestTypes) }

// GrantableUserGroups are the user groups the caller may add users to or remove users from:
// groups it administers all of whose roles are on sites or projects it administers.
func (s Scope) GrantableUserGroups() Fragment {
	return Fragment{SQL: "SELECT id FROM core.acc_user_groups_grantable(@acc_kind::text, @acc_id::integer)",
		Args: pgx.NamedArgs{"acc_kind": string(s.c.Kind), "acc_id": s.c.ID}}
}

// Querier is what the package needs from a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// List returns the accessible ids of an object kind, ascending. For tests, tokens and small
// sets; request handlers should join the fragment instead.
func (s Scope) List(ctx context.Context, db Querier, o Object) ([]int32, error) {
	f := s.IDs(o)
	rows, err := db.Query(ctx, "SELECT DISTINCT id FROM ("+f.SQL+") a ORDER BY id", f.Args)
	if err != nil {
		return nil, fmt.Errorf("access %s: %w", o, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("access %s: %w", o, err)
	}
	return ids, nil
}

// Can reports whether one object is accessible.
func (s Scope) Can(ctx context.Context, db Querier, o Object, id int32) (bool, error) {
	f := s.IDs(o)
	var ok bool
	err := db.QueryRow(ctx, "SELECT EXISTS ("+f.SQL+" WHERE id = @acc_target)", f.With(pgx.NamedArgs{"acc_target": id})).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("access %s: %w", o, err)
	}
	return ok, nil
}

// Role is an OpenTeraServer role on a site or project: "admin", "user" or "" (none).
type Role string

const (
	RoleNone  Role = ""
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// ProjectRoles returns a user's effective project roles (site admins inherit admin; superadmins
// are admin everywhere).
func ProjectRoles(ctx context.Context, db Querier, idUser int32) (map[int32]Role, error) {
	return roles(ctx, db, "SELECT id_project, role FROM core.user_project_roles($1)", idUser)
}

// SiteRoles returns a user's effective site roles (a project role gives "user" on its site).
func SiteRoles(ctx context.Context, db Querier, idUser int32) (map[int32]Role, error) {
	return roles(ctx, db, "SELECT id_site, role FROM core.user_site_roles($1)", idUser)
}

func roles(ctx context.Context, db Querier, q string, idUser int32) (map[int32]Role, error) {
	rows, err := db.Query(ctx, q, idUser)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	defer rows.Close()
	out := map[int32]Role{}
	for rows.Next() {
		var id int32
		var r string
		if err := rows.Scan(&id, &r); err != nil {
			return nil, err
		}
		out[id] = Role(r)
	}
	return out, rows.Err()
}

// ServiceRoles returns a user's global (no site, no project) service roles by service key, as
// embedded in user tokens (`service_access`).
func ServiceRoles(ctx context.Context, db Querier, idUser int32) (map[string][]string, error) {
	rows, err := db.Query(ctx, `
		SELECT DISTINCT sv.service_key, sr.service_role_name
		  FROM core.t_users_users_groups uug
		  JOIN core.t_services_access sa ON sa.id_user_group = uug.id_user_group AND sa.deleted_at IS NULL
		  JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
		  JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.deleted_at IS NULL
		 WHERE uug.id_user = $1 AND uug.deleted_at IS NULL AND sr.id_site IS NULL AND sr.id_project IS NULL
		 ORDER BY 1, 2`, idUser)
	if err != nil {
		return nil, fmt.Errorf("service roles: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var k, r string
		if err := rows.Scan(&k, &r); err != nil {
			return nil, err
		}
		out[k] = append(out[k], r)
	}
	return out, rows.Err()
}
