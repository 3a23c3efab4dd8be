-- +goose Up
-- A user group's project roles include the ones it inherits: a site admin role is admin of every
-- project of the site (OpenTera's TeraUserGroup.get_projects_roles). 00005 counted only explicit
-- project roles, so a group holding a site admin role was invisible to the users of that site's
-- projects (GET /api/user/usergroups?id_user=<a site admin> listed nothing). Reads only: OpenTera
-- also lets a project admin administer (fill) a site admin group through it, a privilege
-- escalation Tera does not copy, so admin_only keeps the explicit project roles.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION core.acc_user_groups(p_kind text, p_id integer, p_admin_only boolean DEFAULT false, p_by_sites boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 20 AS $$
  SELECT g.id_user_group FROM core.t_users_groups g WHERE g.deleted_at IS NULL AND core.is_superadmin(p_kind, p_id)
  UNION
  SELECT sa.id_user_group FROM core.t_services_access sa
    JOIN core.t_users_groups g ON g.id_user_group = sa.id_user_group AND g.deleted_at IS NULL
    JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
    JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
   WHERE p_kind IN ('user', 'service') AND sa.deleted_at IS NULL
     AND CASE WHEN p_by_sites
           THEN sr.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, p_admin_only) a)
             OR sr.id_project IN (SELECT pr.id_project FROM core.t_projects pr
                                   WHERE pr.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, p_admin_only) a))
           ELSE sr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
             OR (NOT p_admin_only AND sr.id_project IS NULL AND sr.service_role_name = 'admin' AND sr.id_site IN
                  (SELECT pr.id_site FROM core.t_projects pr WHERE pr.deleted_at IS NULL
                      AND pr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a))) END
$$;
-- +goose StatementEnd

