-- +goose Up
-- A site admin administers the user groups holding roles in its site (OpenTera's inherited
-- administration: get_accessible_users_groups(admin_only) compares the groups' project roles,
-- inherited ones included, with the caller's admin projects): it may put users in its site's
-- admin group and take them out. 00010 started from the groups with an explicit role on a project
-- the caller administers, so a group holding only a site role was grantable by nobody but a
-- superadmin. The rule that every role of the group be on a site or project the caller administers
-- stays: a project admin still cannot fill its site's admin group.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION core.acc_user_groups_grantable(p_kind text, p_id integer)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 20 AS $$
  SELECT g.id FROM (SELECT a.id FROM core.acc_user_groups(p_kind, p_id, true, false) a
                    UNION SELECT a.id FROM core.acc_user_groups(p_kind, p_id, true, true) a) g
   WHERE NOT EXISTS (
     SELECT 1 FROM core.t_services_access sa
       JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
       JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
      WHERE sa.id_user_group = g.id AND sa.deleted_at IS NULL
        AND NOT coalesce(sr.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, true) a), false)
        AND NOT coalesce(sr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, true) a), false))
$$;
-- +goose StatementEnd
