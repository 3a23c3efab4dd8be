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
