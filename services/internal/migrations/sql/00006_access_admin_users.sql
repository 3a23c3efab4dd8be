-- +goose Up
-- acc_users(…, admin_only => true) is the set of users the caller may WRITE (update, delete,
-- change memberships or preferences of). 00005 computed it like the read, narrowed to the
-- projects the caller administers; that let a site admin write a superadmin (whose effective
-- roles are admin everywhere) and any user its projects' roles reached. OpenTera's rule
-- (UserQueryUsers post/delete): a user may be written by a superadmin, by itself, or by an
-- admin of a site that holds one of the user's groups (a role of the group on the site or on
-- one of its projects). Only a superadmin may write a superadmin, and a user without groups is
-- a superadmin's alone. Services keep 00005's rule (they administer no user today).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION core.acc_users(p_kind text, p_id integer, p_admin_only boolean DEFAULT false, p_with_site_admins boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 50 AS $$
  SELECT u.id_user FROM core.t_users u WHERE u.deleted_at IS NULL AND core.is_superadmin(p_kind, p_id)
  UNION
  SELECT u.id_user FROM core.t_users u WHERE p_kind = 'user' AND u.id_user = p_id AND u.deleted_at IS NULL
  UNION
  SELECT uug.id_user FROM core.t_users_users_groups uug
    JOIN core.t_users u ON u.id_user = uug.id_user AND u.deleted_at IS NULL
    JOIN core.t_users_groups g ON g.id_user_group = uug.id_user_group AND g.deleted_at IS NULL
    JOIN core.t_services_access sa ON sa.id_user_group = uug.id_user_group AND sa.deleted_at IS NULL
    JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
    JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
   WHERE p_kind IN ('user', 'service') AND uug.deleted_at IS NULL AND NOT (p_admin_only AND p_kind = 'user')
     AND (sr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
       OR ((p_with_site_admins OR p_kind = 'service') AND sr.id_project IS NULL AND sr.id_site IN
            (SELECT pr.id_site FROM core.t_projects pr WHERE pr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a))
            AND (p_kind = 'user' OR sr.service_role_name = 'admin')))
  UNION
  SELECT uug.id_user FROM core.t_users_users_groups uug
    JOIN core.t_users u ON u.id_user = uug.id_user AND u.deleted_at IS NULL AND NOT u.user_superadmin
   WHERE p_kind = 'user' AND p_admin_only AND uug.deleted_at IS NULL
     AND uug.id_user_group IN (SELECT a.id FROM core.acc_user_groups(p_kind, p_id, true, true) a)
  UNION
  SELECT u.id_user FROM core.t_users u WHERE p_kind = 'service' AND u.user_superadmin AND u.deleted_at IS NULL
$$;
-- +goose StatementEnd
