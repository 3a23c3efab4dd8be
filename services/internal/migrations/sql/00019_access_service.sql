-- +goose Up
-- The service principal as OpenTera's DBManagerTeraServiceAccess (the service API):
-- - user groups: a service sees the groups holding one of its own roles (get_accessible_usergroups),
--   not the groups of its projects;
-- - sessions: besides those it created and those of its session types, the sessions of the
--   participants of its projects, which OpenTera's service API lists by participant and opens by
--   id when their project is the service's (query_session).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION core.acc_user_groups(p_kind text, p_id integer, p_admin_only boolean DEFAULT false, p_by_sites boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 20 AS $$
  SELECT g.id_user_group FROM core.t_users_groups g WHERE g.deleted_at IS NULL AND core.is_superadmin(p_kind, p_id)
  UNION
  SELECT sa.id_user_group FROM core.t_services_access sa
    JOIN core.t_users_groups g ON g.id_user_group = sa.id_user_group AND g.deleted_at IS NULL
    JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
    JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
   WHERE p_kind = 'user' AND sa.deleted_at IS NULL
     AND CASE WHEN p_by_sites
           THEN sr.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, p_admin_only) a)
             OR sr.id_project IN (SELECT pr.id_project FROM core.t_projects pr
                                   WHERE pr.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, p_admin_only) a))
           ELSE sr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
             OR (NOT p_admin_only AND sr.id_project IS NULL AND sr.service_role_name = 'admin' AND sr.id_site IN
                  (SELECT pr.id_site FROM core.t_projects pr WHERE pr.deleted_at IS NULL
                      AND pr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a))) END
  UNION
  SELECT sa.id_user_group FROM core.t_services_access sa
    JOIN core.t_users_groups g ON g.id_user_group = sa.id_user_group AND g.deleted_at IS NULL
    JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
   WHERE p_kind = 'service' AND sr.id_service = p_id AND sa.deleted_at IS NULL
$$;

CREATE OR REPLACE FUNCTION core.acc_sessions(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 1000 AS $$
  SELECT x.id_session FROM (
    SELECT s.id_session FROM core.t_sessions s WHERE core.is_superadmin(p_kind, p_id)
    UNION
    SELECT sp.id_session FROM core.t_sessions_participants sp
     WHERE sp.deleted_at IS NULL AND (
           (p_kind IN ('user', 'service') AND sp.id_participant IN (SELECT a.id FROM core.acc_participants(p_kind, p_id, p_admin_only) a))
        OR (p_kind = 'participant' AND sp.id_participant = p_id))
    UNION
    SELECT sd.id_session FROM core.t_sessions_devices sd
     WHERE sd.deleted_at IS NULL AND (
           (p_kind = 'user' AND sd.id_device IN (SELECT a.id FROM core.acc_devices(p_kind, p_id, p_admin_only) a))
        OR (p_kind = 'device' AND sd.id_device = p_id))
    UNION
    SELECT su.id_session FROM core.t_sessions_users su
     WHERE p_kind = 'user' AND su.id_user = p_id AND su.deleted_at IS NULL
    UNION
    SELECT s.id_session FROM core.t_sessions s
     WHERE p_kind = 'user' AND (
           s.id_creator_user IN (SELECT a.id FROM core.acc_users(p_kind, p_id, p_admin_only) a)
        OR s.id_creator_participant IN (SELECT a.id FROM core.acc_participants(p_kind, p_id, p_admin_only) a)
        OR s.id_creator_device IN (SELECT a.id FROM core.acc_devices(p_kind, p_id, p_admin_only) a)
        OR s.id_creator_service IN (SELECT a.id FROM core.acc_services(p_kind, p_id, p_admin_only) a))
    UNION
    SELECT s.id_session FROM core.t_sessions s WHERE p_kind = 'participant' AND s.id_creator_participant = p_id
    UNION
    SELECT s.id_session FROM core.t_sessions s WHERE p_kind = 'device' AND s.id_creator_device = p_id
    UNION
    SELECT s.id_session FROM core.t_sessions s
     WHERE p_kind = 'service' AND (s.id_creator_service = p_id
        OR s.id_session_type IN (SELECT a.id FROM core.acc_session_types(p_kind, p_id, false) a)
        OR s.id_creator_participant IN (SELECT a.id FROM core.acc_participants(p_kind, p_id, false) a))
  ) x JOIN core.t_sessions s ON s.id_session = x.id_session AND s.deleted_at IS NULL
$$;

-- Whether any principal may see (and so write) one session: a user by OpenTera's query_session
-- (user_can_session), the other kinds when the session is in their acc_sessions.
CREATE FUNCTION core.can_session(p_kind text, p_id integer, p_session integer) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN p_kind = 'user' THEN core.user_can_session(p_id, p_session)
              ELSE EXISTS (SELECT 1 FROM core.acc_sessions(p_kind, p_id, false) a WHERE a.id = p_session) END
$$;
-- +goose StatementEnd
