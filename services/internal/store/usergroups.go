package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// UserGroupRow is a t_users_groups row.
type UserGroupRow struct {
	IDUserGroup   int32  `db:"id_user_group"`
	UserGroupName string `db:"user_group_name"`
}

// UserGroupFilter selects user groups; nil fields do not filter.
type UserGroupFilter struct {
	IDUserGroup *int32
	// IDUser keeps the groups of that user, when the scope sees the user.
	IDUser *int32
	// IDSite keeps the groups holding a role on that site or one of its projects.
	IDSite *int32
}

// The scope's SiteWide form widens both the groups (by the caller's sites) and the users.
const listUserGroupsSQL = `
SELECT g.id_user_group, g.user_group_name
  FROM core.t_users_groups g
 WHERE g.deleted_at IS NULL
   AND g.id_user_group IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, @acc_wide::boolean))
   AND (@id_user_group::integer IS NULL OR g.id_user_group = @id_user_group)
   AND (@id_user::integer IS NULL
        OR @id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, @acc_wide::boolean))
           AND g.id_user_group IN (SELECT uug.id_user_group FROM core.t_users_users_groups uug
                                    WHERE uug.id_user = @id_user AND uug.deleted_at IS NULL))
   AND (@id_site::integer IS NULL OR g.id_user_group IN
        (SELECT sa.id_user_group FROM core.t_services_access sa
           JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
           LEFT JOIN core.t_projects p ON p.id_project = sr.id_project
          WHERE sa.deleted_at IS NULL AND sa.id_user_group IS NOT NULL AND (sr.id_site = @id_site OR p.id_site = @id_site)))
 ORDER BY g.id_user_group`

// ListUserGroups returns the user groups of the scope that match f, by id.
func ListUserGroups(ctx context.Context, db DB, scope access.Scope, f UserGroupFilter) ([]UserGroupRow, error) {
	return list[UserGroupRow](ctx, db, "list user groups", listUserGroupsSQL, scope, pgx.NamedArgs{
		"id_user_group": f.IDUserGroup, "id_user": f.IDUser, "id_site": f.IDSite})
}

// groupRolesCTE is the OpenTeraServer roles of group @g: site roles (id_project NULL) and project
// roles.
const groupRolesCTE = `WITH ex AS (
	SELECT sr.id_site, sr.id_project, sr.service_role_name AS role
	  FROM core.t_services_access sa
	  JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
	  JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
	 WHERE sa.id_user_group = @g AND sa.deleted_at IS NULL)`

// GroupSiteRole is a user group's role on a site: explicit, or "user" inherited from a project
// role there.
type GroupSiteRole struct {
	IDSite          int32  `db:"id_site"`
	SiteName        string `db:"site_name"`
	Site2FARequired bool   `db:"site_2fa_required"`
	Role            string `db:"role"`
	Inherited       bool   `db:"inherited"`
}

const groupSiteRolesSQL = groupRolesCTE + `
SELECT s.id_site, s.site_name, s.site_2fa_required, coalesce(e.role, 'user') AS role, e.role IS NULL AS inherited
  FROM core.t_sites s
  LEFT JOIN (SELECT id_site, CASE WHEN bool_or(role = 'admin') THEN 'admin' ELSE 'user' END AS role
               FROM ex WHERE id_site IS NOT NULL AND id_project IS NULL GROUP BY id_site) e ON e.id_site = s.id_site
 WHERE s.deleted_at IS NULL
   AND s.id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (e.id_site IS NOT NULL OR s.id_site IN (SELECT p.id_site FROM ex JOIN core.t_projects p
                                                ON p.id_project = ex.id_project AND p.deleted_at IS NULL))
 ORDER BY s.id_site`

// GroupSiteRoles lists group g's roles on the sites of the scope.
func GroupSiteRoles(ctx context.Context, db DB, scope access.Scope, g int32) ([]GroupSiteRole, error) {
	return list[GroupSiteRole](ctx, db, "group site roles", groupSiteRolesSQL, scope, pgx.NamedArgs{"g": g})
}

// GroupProjectRole is a user group's role on a project: explicit, or admin inherited from a site
// admin role.
type GroupProjectRole struct {
	IDProject          int32   `db:"id_project"`
	ProjectName        string  `db:"project_name"`
	ProjectEnabled     bool    `db:"project_enabled"`
	ProjectDescription *string `db:"project_description"`
	Role               string  `db:"role"`
	Inherited          bool    `db:"inherited"`
}

const groupProjectRolesSQL = groupRolesCTE + `
SELECT p.id_project, p.project_name, p.project_enabled, p.project_description,
       CASE WHEN sa.id_site IS NOT NULL THEN 'admin' ELSE e.role END AS role,
       sa.id_site IS NOT NULL AND e.role IS DISTINCT FROM 'admin' AS inherited
  FROM core.t_projects p
  LEFT JOIN (SELECT id_project, CASE WHEN bool_or(role = 'admin') THEN 'admin' ELSE 'user' END AS role
               FROM ex WHERE id_project IS NOT NULL GROUP BY id_project) e ON e.id_project = p.id_project
  LEFT JOIN (SELECT DISTINCT id_site FROM ex WHERE id_project IS NULL AND id_site IS NOT NULL AND role = 'admin') sa
         ON sa.id_site = p.id_site
 WHERE p.deleted_at IS NULL
   AND p.id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (e.id_project IS NOT NULL OR sa.id_site IS NOT NULL)
 ORDER BY p.id_project`

// GroupProjectRoles lists group g's roles on the projects of the scope.
func GroupProjectRoles(ctx context.Context, db DB, scope access.Scope, g int32) ([]GroupProjectRole, error) {
	return list[GroupProjectRole](ctx, db, "group project roles", groupProjectRolesSQL, scope, pgx.NamedArgs{"g": g})
}

// UserGroupRolesCheck tells whether the scope administers a site at all, every listed site, and
// the site of every listed project (OpenTera: a group's roles are set by its sites' admins).
func UserGroupRolesCheck(ctx context.Context, db DB, scope access.Scope, sites, projects []int32) (any, allSites, allProjects bool, err error) {
	err = db.QueryRow(ctx, `
WITH mine AS (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, true))
SELECT EXISTS (SELECT 1 FROM mine),
       NOT EXISTS (SELECT 1 FROM unnest(@sites::int[]) s WHERE s NOT IN (SELECT id FROM mine)),
       NOT EXISTS (SELECT 1 FROM unnest(@projects::int[]) w WHERE NOT EXISTS (SELECT 1 FROM core.t_projects p
                    WHERE p.id_project = w AND p.deleted_at IS NULL AND p.id_site IN (SELECT id FROM mine)))`,
		scope.Args(pgx.NamedArgs{"sites": sites, "projects": projects})).Scan(&any, &allSites, &allProjects)
	return any, allSites, allProjects, wrap("user group roles check", err)
}

// InsertUserGroup creates a group; the scope must administer a site (ErrNotFound otherwise).
func InsertUserGroup(ctx context.Context, db DB, scope access.Scope, name string) (int32, error) {
	return writeID(ctx, db, "insert user group", `
INSERT INTO core.t_users_groups (user_group_name) SELECT @name
 WHERE EXISTS (SELECT 1 FROM core.acc_sites(@acc_kind::text, @acc_id::integer, true))
RETURNING id_user_group`, scope, pgx.NamedArgs{"name": name})
}

// UpdateUserGroup renames (name nil: only checks) a group whose roles are on sites the scope
// administers, or, for a user, one holding no role yet (a service's groups are those holding one
// of its roles; ErrNotFound otherwise).
func UpdateUserGroup(ctx context.Context, db DB, scope access.Scope, id int32, name *string) error {
	_, err := writeID(ctx, db, "update user group", `
WITH target AS (
  SELECT g.id_user_group FROM core.t_users_groups g
   WHERE g.id_user_group = @id AND g.deleted_at IS NULL
     AND (g.id_user_group IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, true, true))
          OR @acc_kind::text = 'user'
             AND NOT EXISTS (SELECT 1 FROM core.t_services_access sa WHERE sa.id_user_group = g.id_user_group AND sa.deleted_at IS NULL))
     FOR UPDATE),
renamed AS (UPDATE core.t_users_groups SET user_group_name = @name
             WHERE id_user_group IN (SELECT id_user_group FROM target) AND @name::text IS NOT NULL)
SELECT id_user_group FROM target`, scope, pgx.NamedArgs{"id": id, "name": name})
	return err
}

// UserGroupName is the name of a live group.
func UserGroupName(ctx context.Context, db DB, id int32) (string, error) {
	var name string
	err := db.QueryRow(ctx, `SELECT user_group_name FROM core.t_users_groups WHERE id_user_group = $1 AND deleted_at IS NULL`, id).Scan(&name)
	return name, wrap("user group name", err)
}

// RoleObject is the object of an OpenTeraServer role: a site (Site true) or a project.
type RoleObject struct {
	Site bool
	ID   int32
}

// objectRoles selects the OpenTeraServer roles (sr) of @id, a site (@on_site) or a project.
const objectRoles = `SELECT sr.id_service_role FROM core.t_services_roles sr
  JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
 WHERE sr.deleted_at IS NULL
   AND CASE WHEN @on_site::boolean THEN sr.id_site = @id AND sr.id_project IS NULL ELSE sr.id_project = @id END`

func (o RoleObject) args(extra pgx.NamedArgs) pgx.NamedArgs {
	extra["on_site"], extra["id"] = o.Site, o.ID
	return extra
}

// CanAdministerRoleObject tells whether the scope administers the site or project.
func CanAdministerRoleObject(ctx context.Context, db DB, scope access.Scope, o RoleObject) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT CASE WHEN @on_site::boolean
	    THEN @id::integer IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, true))
	    ELSE @id::integer IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, true)) END`,
		scope.Args(o.args(pgx.NamedArgs{}))).Scan(&ok)
	return ok, wrap("role object admin", err)
}

// RoleName is the name of an OpenTeraServer role of the object (ErrNotFound for another role).
func RoleName(ctx context.Context, db DB, o RoleObject, idRole int32) (string, error) {
	var name string
	err := db.QueryRow(ctx, `SELECT service_role_name FROM core.t_services_roles WHERE id_service_role = @role
	   AND id_service_role IN (`+objectRoles+`)`, o.args(pgx.NamedArgs{"role": idRole})).Scan(&name)
	return name, wrap("role name", err)
}

// GroupHasProjectRoleOnSite tells whether group g holds a role on a project of the site.
func GroupHasProjectRoleOnSite(ctx context.Context, db DB, g, site int32) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, groupRolesCTE+` SELECT EXISTS (SELECT 1 FROM ex JOIN core.t_projects p
	    ON p.id_project = ex.id_project AND p.deleted_at IS NULL WHERE p.id_site = @site)`, pgx.NamedArgs{"g": g, "site": site}).Scan(&ok)
	return ok, wrap("group project role on site", err)
}

// SetGroupRole gives group g the named OpenTeraServer role on the object, replacing its other
// role there, and returns the access row (id_service_access) that holds it; an empty role
// removes the group's roles there (0). A changed role is written into the group's existing row,
// as OpenTera does, so the id a client got for the grant stays valid; a removed grant of that
// role is restored rather than duplicated. An unknown role is ErrNotFound.
func SetGroupRole(ctx context.Context, db DB, g int32, o RoleObject, role string) (int32, error) {
	args := o.args(pgx.NamedArgs{"g": g, "role": role})
	const live = `SELECT id_service_access FROM core.t_services_access
	 WHERE id_user_group = @g AND deleted_at IS NULL AND id_service_role IN (` + objectRoles + `)`
	if role == "" {
		_, err := db.Exec(ctx, `UPDATE core.t_services_access SET deleted_at = now() WHERE id_service_access IN (`+live+`)`, args)
		return 0, wrap("remove group role", err)
	}
	var keep int32
	err := db.QueryRow(ctx, `
WITH r AS (`+objectRoles+` AND sr.service_role_name = @role),
held AS (SELECT sa.id_service_access AS id, sa.deleted_at IS NULL AS alive FROM core.t_services_access sa, r
          WHERE sa.id_user_group = @g AND sa.id_service_role = r.id_service_role),
other AS (SELECT min(id_service_access) AS id FROM (`+live+`) l)
SELECT coalesce((SELECT id FROM held WHERE alive), CASE WHEN NOT EXISTS (SELECT 1 FROM held) THEN (SELECT id FROM other) END,
                (SELECT id FROM held), 0)
  FROM r`, args).Scan(&keep)
	if err != nil {
		return 0, wrap("set group role", err)
	}
	err = db.QueryRow(ctx, `
WITH r AS (`+objectRoles+` AND sr.service_role_name = @role),
dropped AS (UPDATE core.t_services_access SET deleted_at = now()
             WHERE id_service_access IN (`+live+`) AND id_service_access <> @keep),
kept AS (UPDATE core.t_services_access SET id_service_role = (SELECT id_service_role FROM r), deleted_at = NULL
          WHERE id_service_access = @keep RETURNING id_service_access),
added AS (INSERT INTO core.t_services_access (id_user_group, id_service_role)
          SELECT @g, id_service_role FROM r WHERE @keep::integer = 0 RETURNING id_service_access)
SELECT id_service_access FROM kept UNION ALL SELECT id_service_access FROM added`, o.args(pgx.NamedArgs{"g": g, "role": role, "keep": keep})).Scan(&keep)
	return keep, wrap("set group role", err)
}
