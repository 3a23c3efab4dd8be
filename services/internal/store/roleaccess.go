package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// Role access: the OpenTeraServer roles of user groups and users on sites and projects
// (/api/user/siteaccess and /api/user/projectaccess).

// rolesCTE defines, for the OpenTeraServer roles on sites (@on_site) or projects: groles (group,
// id, role, inh) and uroles (user, id, role, inh), admin winning over user and an explicit role
// over an inherited one. A project role gives "user" on its site; a site admin role gives admin on
// every project of the site; superadmins are admin everywhere (inherited).
const rolesCTE = `WITH ex AS (
	SELECT sa.id_user_group AS g, sr.id_site, sr.id_project, sr.service_role_name AS role
	  FROM core.t_services_access sa
	  JOIN core.t_users_groups ug ON ug.id_user_group = sa.id_user_group AND ug.deleted_at IS NULL
	  JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
	  JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
	 WHERE sa.deleted_at IS NULL),
gsite AS (SELECT DISTINCT ON (g, id) g, id, role, inh FROM (
	SELECT g, id_site AS id, role, false AS inh FROM ex WHERE id_project IS NULL AND id_site IS NOT NULL
	UNION ALL
	SELECT ex.g, p.id_site, 'user', true FROM ex JOIN core.t_projects p ON p.id_project = ex.id_project AND p.deleted_at IS NULL) x
	ORDER BY g, id, (role = 'admin') DESC, inh),
gproject AS (SELECT DISTINCT ON (g, id) g, id, role, inh FROM (
	SELECT g, id_project AS id, role, false AS inh FROM ex WHERE id_project IS NOT NULL
	UNION ALL
	SELECT ex.g, p.id_project, 'admin', true FROM ex JOIN core.t_projects p ON p.id_site = ex.id_site AND p.deleted_at IS NULL
	 WHERE ex.id_project IS NULL AND ex.role = 'admin') x
	ORDER BY g, id, (role = 'admin') DESC, inh),
objects AS (
	SELECT o.id_site AS id, o.site_name AS name, o.site_2fa_required AS flag, NULL::text AS descr,
	       o.id_site AS site_id, o.site_name AS site_name, true AS is_site
	  FROM core.t_sites o WHERE o.deleted_at IS NULL
	   AND @on_site::boolean AND o.id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, false))
	UNION ALL
	SELECT o.id_project, o.project_name, o.project_enabled, o.project_description, o.id_site, st.site_name, false
	  FROM core.t_projects o JOIN core.t_sites st ON st.id_site = o.id_site
	 WHERE o.deleted_at IS NULL
	   AND NOT @on_site::boolean AND o.id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, false))),
groles AS (SELECT g, id, role, inh FROM gsite WHERE @on_site::boolean UNION ALL SELECT g, id, role, inh FROM gproject WHERE NOT @on_site::boolean),
uroles AS (SELECT DISTINCT ON (u, id) u, id, role, inh FROM (
	SELECT uug.id_user AS u, gr.id, gr.role, gr.inh FROM core.t_users_users_groups uug
	  JOIN groles gr ON gr.g = uug.id_user_group
	  JOIN core.t_users us ON us.id_user = uug.id_user AND NOT us.user_superadmin
	 WHERE uug.deleted_at IS NULL
	UNION ALL
	SELECT us.id_user, o.id, 'admin', true FROM core.t_users us,
	       (SELECT id_site AS id FROM core.t_sites WHERE deleted_at IS NULL AND @on_site::boolean
	        UNION ALL SELECT id_project FROM core.t_projects WHERE deleted_at IS NULL AND NOT @on_site::boolean) o
	 WHERE us.user_superadmin AND us.deleted_at IS NULL) x
	ORDER BY u, id, (role = 'admin') DESC, inh) `

// RoleAccessFilter selects the rows of one of the three forms: the groups with a role on an
// object (ID), the objects a group has a role on (IDUserGroup) or those a user has a role on
// (IDUser). Each is empty when the scope does not see its selector.
type RoleAccessFilter struct {
	Site                    bool
	ID, IDUserGroup, IDUser *int32
	// Admins keeps admin roles; WithEmpty adds the groups (by object) or objects (by group)
	// without a role, with a NULL role.
	Admins, WithEmpty bool
}

// RoleAccessRow is a group (by object) or an object (by group or user) with the role.
type RoleAccessRow struct {
	ID            *int32  `db:"id"`
	Name          *string `db:"name"`
	Flag          *bool   `db:"flag"`
	Descr         *string `db:"descr"`
	SiteID        *int32  `db:"site_id"`
	SiteName      *string `db:"site_name"`
	IDUserGroup   *int32  `db:"id_user_group"`
	UserGroupName *string `db:"user_group_name"`
	Role          *string `db:"role"`
	Inherited     *bool   `db:"inh"`
}

const roleAccessSQL = rolesCTE + `
SELECT NULL::integer AS id, NULL::text AS name, NULL::boolean AS flag, NULL::text AS descr, NULL::integer AS site_id,
       NULL::text AS site_name, ug.id_user_group, ug.user_group_name, r.role, r.inh
  FROM core.t_users_groups ug
  LEFT JOIN groles r ON r.g = ug.id_user_group AND r.id = @id AND (NOT @admins::boolean OR r.role = 'admin')
 WHERE @id::integer IS NOT NULL AND ug.deleted_at IS NULL AND (r.g IS NOT NULL OR @with_empty::boolean)
   AND @id IN (SELECT id FROM objects)
   AND ug.id_user_group IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, false, true))
UNION ALL
SELECT o.id, o.name, o.flag, o.descr, o.site_id, o.site_name, NULL, NULL, r.role, r.inh
  FROM objects o
  LEFT JOIN groles r ON r.id = o.id AND r.g = @id_user_group AND (NOT @admins::boolean OR r.role = 'admin')
 WHERE @id_user_group::integer IS NOT NULL AND (r.g IS NOT NULL OR @with_empty::boolean)
   AND @id_user_group IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, false, false))
UNION ALL
SELECT o.id, o.name, o.flag, o.descr, o.site_id, o.site_name, NULL, NULL, r.role, r.inh
  FROM objects o
  JOIN uroles r ON r.id = o.id AND r.u = @id_user AND (NOT @admins::boolean OR r.role = 'admin')
 WHERE @id_user::integer IS NOT NULL
   AND @id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false))
 ORDER BY id_user_group, id`

// ListRoleAccess returns the rows of f's form.
func ListRoleAccess(ctx context.Context, db DB, scope access.Scope, f RoleAccessFilter) ([]RoleAccessRow, error) {
	return list[RoleAccessRow](ctx, db, "list role access", roleAccessSQL, scope, pgx.NamedArgs{"on_site": f.Site, "id": f.ID,
		"id_user_group": f.IDUserGroup, "id_user": f.IDUser, "admins": f.Admins, "with_empty": f.WithEmpty})
}

// RoleUserRow is a member of the groups with its own (effective) role on one object.
type RoleUserRow struct {
	IDUser      int32   `db:"id_user"`
	UserName    string  `db:"user_name"`
	UserEnabled bool    `db:"user_enabled"`
	ID          int32   `db:"id"`
	Role        *string `db:"role"`
	Inherited   *bool   `db:"inh"`
}

// roleUsersSQL is the by_users form over groups and objects a ListRoleAccess of the scope gave.
const roleUsersSQL = rolesCTE + `
SELECT us.id_user, us.user_firstname || ' ' || us.user_lastname AS user_name, us.user_enabled, ob.id, r.role, r.inh
  FROM (SELECT DISTINCT uug.id_user FROM core.t_users_users_groups uug
         WHERE uug.id_user_group = ANY(@groups) AND uug.deleted_at IS NULL) mem
  JOIN core.t_users us ON us.id_user = mem.id_user AND us.deleted_at IS NULL
 CROSS JOIN unnest(@objs::int[]) ob(id)
  LEFT JOIN uroles r ON r.u = us.id_user AND r.id = ob.id
 ORDER BY us.id_user, ob.id`

// ListRoleUsers is the by_users form: every member of the groups, with its role on each object.
func ListRoleUsers(ctx context.Context, db DB, scope access.Scope, site bool, groups, objs []int32) ([]RoleUserRow, error) {
	return list[RoleUserRow](ctx, db, "list role users", roleUsersSQL, scope, pgx.NamedArgs{"on_site": site, "groups": groups, "objs": objs})
}

// RoleAccessWritten is an access row as the POST answers it.
type RoleAccessWritten struct {
	ID            int32  `db:"id_service_access"`
	IDUserGroup   int32  `db:"id_user_group"`
	IDServiceRole int32  `db:"id_service_role"`
	IDService     int32  `db:"id_service"`
	ObjectID      int32  `db:"id_object"`
	RoleName      string `db:"service_role_name"`
	UserGroupName string `db:"user_group_name"`
}

// ListRoleAccessWritten reads access rows by id for the POST answer.
func ListRoleAccessWritten(ctx context.Context, db DB, scope access.Scope, ids []int32) ([]RoleAccessWritten, error) {
	return list[RoleAccessWritten](ctx, db, "list written role access", `
SELECT sa.id_service_access, sa.id_user_group, sa.id_service_role, sr.id_service, coalesce(sr.id_project, sr.id_site) AS id_object,
       sr.service_role_name, ug.user_group_name
  FROM core.t_services_access sa
  JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role
  JOIN core.t_users_groups ug ON ug.id_user_group = sa.id_user_group
 WHERE sa.id_service_access = ANY(@ids::int[])
 ORDER BY sa.id_service_access`, scope, pgx.NamedArgs{"ids": ids})
}

// ErrForbidden: the row exists but the scope may not write it (where OpenTera tells that apart
// from an unknown row).
var ErrForbidden = errors.New("forbidden")

// DeleteRoleAccess removes one access row of a site (site) or project role the scope administers,
// by id: ErrNotFound when there is no such live row, ErrForbidden for a row of the other kind or
// one the scope does not administer.
func DeleteRoleAccess(ctx context.Context, db DB, scope access.Scope, site bool, id int32) error {
	var object *int32
	err := db.QueryRow(ctx, `
SELECT CASE WHEN @on_site::boolean AND sr.id_project IS NULL THEN sr.id_site
            WHEN NOT @on_site::boolean THEN sr.id_project END
  FROM core.t_services_access sa JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role
 WHERE sa.id_service_access = @id AND sa.deleted_at IS NULL`, pgx.NamedArgs{"on_site": site, "id": id}).Scan(&object)
	if err != nil {
		return wrap("delete role access", err)
	}
	if object == nil {
		return ErrForbidden
	}
	if ok, err := CanAdministerRoleObject(ctx, db, scope, RoleObject{Site: site, ID: *object}); err != nil || !ok {
		if err == nil {
			err = ErrForbidden
		}
		return err
	}
	_, err = db.Exec(ctx, `UPDATE core.t_services_access SET deleted_at = now() WHERE id_service_access = $1`, id)
	return wrap("delete role access", err)
}
