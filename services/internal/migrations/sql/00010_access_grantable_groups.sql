-- +goose Up
-- The user groups a caller may put users in or take users out of: groups it administers
-- (acc_user_groups, admin-only form) all of whose OpenTeraServer roles are on sites or projects it
-- administers. A membership hands out every role of the group: a project admin must not mint
-- access to another project through a group that also holds a role there (OpenTera checks only
-- that the group has one role on a project the caller administers).
-- +goose StatementBegin
CREATE FUNCTION core.acc_user_groups_grantable(p_kind text, p_id integer)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 20 AS $$
  SELECT g.id FROM core.acc_user_groups(p_kind, p_id, true, false) g
   WHERE NOT EXISTS (
     SELECT 1 FROM core.t_services_access sa
       JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
       JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
      WHERE sa.id_user_group = g.id AND sa.deleted_at IS NULL
        AND NOT coalesce(sr.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, true) a), false)
        AND NOT coalesce(sr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, true) a), false))
$$;
-- +goose StatementEnd
