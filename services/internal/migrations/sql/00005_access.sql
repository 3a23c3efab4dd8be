-- +goose Up
-- Access rules of REFERENCE §2 as SQL functions. Each acc_<kind>(caller_kind, caller_id,
-- admin_only) returns the ids of <kind> the caller may see; queries join against it
-- ("… AND p.id_project IN (SELECT id FROM core.acc_projects($1, $2, false))"). They are
-- LANGUAGE sql STABLE single SELECTs so the planner inlines them into the calling query.
-- caller_kind is 'user', 'participant', 'device' or 'service'; caller_id is its integer id.

-- Effective OpenTeraServer project roles of a user: explicit project roles of its groups, admin
-- on every project of a site it administers, admin everywhere for superadmins (whose groups are
-- ignored). admin wins over user.
-- +goose StatementBegin
CREATE FUNCTION core.user_project_roles(p_user integer) RETURNS TABLE (id_project integer, role text)
LANGUAGE sql STABLE ROWS 20 AS $$
  WITH su AS (SELECT coalesce(bool_or(user_superadmin), false) AS yes FROM core.t_users
               WHERE id_user = p_user AND deleted_at IS NULL),
  explicit AS (
    SELECT sr.id_project, sr.id_site, sr.service_role_name AS role
      FROM core.t_users_users_groups uug
      JOIN core.t_users_groups g ON g.id_user_group = uug.id_user_group AND g.deleted_at IS NULL
      JOIN core.t_services_access sa ON sa.id_user_group = uug.id_user_group AND sa.deleted_at IS NULL
      JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
      JOIN core.t_services s ON s.id_service = sr.id_service AND s.service_key = 'OpenTeraServer'
     WHERE uug.id_user = p_user AND uug.deleted_at IS NULL AND NOT (SELECT yes FROM su))
  SELECT p.id_project, CASE WHEN bool_or(x.role = 'admin') THEN 'admin' ELSE 'user' END
    FROM (SELECT e.id_project, e.role FROM explicit e WHERE e.id_project IS NOT NULL
          UNION ALL
          SELECT p2.id_project, 'admin' FROM explicit e JOIN core.t_projects p2 ON p2.id_site = e.id_site
           WHERE e.id_project IS NULL AND e.role = 'admin'
          UNION ALL
          SELECT p3.id_project, 'admin' FROM core.t_projects p3 WHERE (SELECT yes FROM su)) x
    JOIN core.t_projects p ON p.id_project = x.id_project AND p.deleted_at IS NULL
    JOIN core.t_sites st ON st.id_site = p.id_site AND st.deleted_at IS NULL
   GROUP BY p.id_project
$$;

-- Effective OpenTeraServer site roles of a user: explicit site roles, "user" on the site of any
-- project it has a role in, admin everywhere for superadmins. admin wins.
CREATE FUNCTION core.user_site_roles(p_user integer) RETURNS TABLE (id_site integer, role text)
LANGUAGE sql STABLE ROWS 5 AS $$
  WITH su AS (SELECT coalesce(bool_or(user_superadmin), false) AS yes FROM core.t_users
               WHERE id_user = p_user AND deleted_at IS NULL)
  SELECT s.id_site, CASE WHEN bool_or(x.role = 'admin') THEN 'admin' ELSE 'user' END
    FROM (SELECT sr.id_site, sr.service_role_name AS role
            FROM core.t_users_users_groups uug
            JOIN core.t_users_groups g ON g.id_user_group = uug.id_user_group AND g.deleted_at IS NULL
            JOIN core.t_services_access sa ON sa.id_user_group = uug.id_user_group AND sa.deleted_at IS NULL
            JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
            JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
           WHERE uug.id_user = p_user AND uug.deleted_at IS NULL AND sr.id_project IS NULL AND sr.id_site IS NOT NULL
             AND NOT (SELECT yes FROM su)
          UNION ALL
          SELECT p.id_site, 'user' FROM core.user_project_roles(p_user) r JOIN core.t_projects p USING (id_project)
          UNION ALL
          SELECT s2.id_site, 'admin' FROM core.t_sites s2 WHERE (SELECT yes FROM su)) x
    JOIN core.t_sites s ON s.id_site = x.id_site AND s.deleted_at IS NULL
   GROUP BY s.id_site
$$;

CREATE FUNCTION core.is_superadmin(p_kind text, p_id integer) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT p_kind = 'user' AND EXISTS (SELECT 1 FROM core.t_users WHERE id_user = p_id AND user_superadmin AND deleted_at IS NULL)
$$;

CREATE FUNCTION core.acc_sites(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 5 AS $$
  SELECT r.id_site FROM core.user_site_roles(p_id) r
   WHERE p_kind = 'user' AND (NOT p_admin_only OR r.role = 'admin')
  UNION
  SELECT pr.id_site FROM core.t_participants pa JOIN core.t_projects pr ON pr.id_project = pa.id_project AND pr.deleted_at IS NULL
   WHERE p_kind = 'participant' AND pa.id_participant = p_id AND pa.deleted_at IS NULL
  UNION
  SELECT ds.id_site FROM core.t_devices_sites ds JOIN core.t_sites s ON s.id_site = ds.id_site AND s.deleted_at IS NULL
   WHERE p_kind = 'device' AND ds.id_device = p_id AND ds.deleted_at IS NULL
  UNION
  SELECT ss.id_site FROM core.t_services_sites ss JOIN core.t_sites s ON s.id_site = ss.id_site AND s.deleted_at IS NULL
   WHERE p_kind = 'service' AND ss.id_service = p_id AND ss.deleted_at IS NULL
$$;

CREATE FUNCTION core.acc_projects(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 20 AS $$
  SELECT r.id_project FROM core.user_project_roles(p_id) r
   WHERE p_kind = 'user' AND (NOT p_admin_only OR r.role = 'admin')
  UNION
  SELECT pa.id_project FROM core.t_participants pa
   WHERE p_kind = 'participant' AND pa.id_participant = p_id AND pa.deleted_at IS NULL
  UNION
  SELECT dp.id_project FROM core.t_devices_projects dp JOIN core.t_projects p ON p.id_project = dp.id_project AND p.deleted_at IS NULL
   WHERE p_kind = 'device' AND dp.id_device = p_id AND dp.deleted_at IS NULL
  UNION
  SELECT sp.id_project FROM core.t_services_projects sp JOIN core.t_projects p ON p.id_project = sp.id_project AND p.deleted_at IS NULL
   WHERE p_kind = 'service' AND sp.id_service = p_id AND sp.deleted_at IS NULL
$$;

CREATE FUNCTION core.acc_participant_groups(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 50 AS $$
  SELECT g.id_participant_group FROM core.t_participants_groups g
   WHERE p_kind IN ('user', 'service') AND g.deleted_at IS NULL
     AND g.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
  UNION
  SELECT pa.id_participant_group FROM core.t_participants pa
    JOIN core.t_participants_groups g ON g.id_participant_group = pa.id_participant_group AND g.deleted_at IS NULL
   WHERE p_kind = 'participant' AND pa.id_participant = p_id AND pa.deleted_at IS NULL
$$;

CREATE FUNCTION core.acc_participants(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 1000 AS $$
  SELECT pa.id_participant FROM core.t_participants pa
   WHERE p_kind IN ('user', 'service') AND pa.deleted_at IS NULL
     AND pa.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
  UNION ALL
  SELECT pa.id_participant FROM core.t_participants pa
   WHERE p_kind = 'participant' AND pa.id_participant = p_id AND pa.deleted_at IS NULL
  UNION ALL
  SELECT dp.id_participant FROM core.t_devices_participants dp
    JOIN core.t_participants pa ON pa.id_participant = dp.id_participant AND pa.deleted_at IS NULL
   WHERE p_kind = 'device' AND dp.id_device = p_id AND dp.deleted_at IS NULL
$$;

CREATE FUNCTION core.acc_devices(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 100 AS $$
  SELECT d.id_device FROM core.t_devices d WHERE d.deleted_at IS NULL AND core.is_superadmin(p_kind, p_id)
  UNION
  SELECT ds.id_device FROM core.t_devices_sites ds JOIN core.t_devices d ON d.id_device = ds.id_device AND d.deleted_at IS NULL
   WHERE p_kind = 'user' AND ds.deleted_at IS NULL
     AND ds.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, p_admin_only) a)
  UNION
  SELECT dp.id_device FROM core.t_devices_participants dp JOIN core.t_devices d ON d.id_device = dp.id_device AND d.deleted_at IS NULL
   WHERE p_kind = 'participant' AND dp.id_participant = p_id AND dp.deleted_at IS NULL
  UNION
  SELECT d.id_device FROM core.t_devices d WHERE p_kind = 'device' AND d.id_device = p_id AND d.deleted_at IS NULL
  UNION
  SELECT dp.id_device FROM core.t_devices_projects dp JOIN core.t_devices d ON d.id_device = dp.id_device AND d.deleted_at IS NULL
   WHERE p_kind = 'service' AND dp.deleted_at IS NULL
     AND dp.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
$$;

CREATE FUNCTION core.acc_services(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 20 AS $$
  SELECT s.id_service FROM core.t_services s WHERE s.deleted_at IS NULL AND core.is_superadmin(p_kind, p_id)
  UNION
  SELECT sp.id_service FROM core.t_services_projects sp JOIN core.t_services s ON s.id_service = sp.id_service AND s.deleted_at IS NULL
   WHERE p_kind IN ('user', 'participant', 'device') AND sp.deleted_at IS NULL
     AND sp.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
  UNION
  SELECT ss.id_service FROM core.t_services_sites ss JOIN core.t_services s ON s.id_service = ss.id_service AND s.deleted_at IS NULL
   WHERE p_kind = 'user' AND ss.deleted_at IS NULL
     AND ss.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, true) a)
  UNION
  SELECT s.id_service FROM core.t_services s WHERE p_kind = 'service' AND s.id_service = p_id AND s.deleted_at IS NULL
$$;

CREATE FUNCTION core.acc_session_types(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 20 AS $$
  SELECT st.id_session_type FROM core.t_sessions_types st WHERE st.deleted_at IS NULL AND core.is_superadmin(p_kind, p_id)
  UNION
  SELECT st.id_session_type FROM core.t_sessions_types_sites sts
    JOIN core.t_sessions_types st ON st.id_session_type = sts.id_session_type AND st.deleted_at IS NULL
   WHERE p_kind = 'user' AND sts.deleted_at IS NULL
     AND sts.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, p_admin_only) a)
     AND (st.session_type_category <> 1 OR st.id_service IN (SELECT a.id FROM core.acc_services(p_kind, p_id, false) a))
  UNION
  SELECT st.id_session_type FROM core.t_sessions_types_projects stp
    JOIN core.t_sessions_types st ON st.id_session_type = stp.id_session_type AND st.deleted_at IS NULL
   WHERE p_kind IN ('participant', 'device') AND stp.deleted_at IS NULL
     AND stp.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
  UNION
  SELECT st.id_session_type FROM core.t_sessions_types st
   WHERE p_kind = 'service' AND st.deleted_at IS NULL AND (st.id_service = p_id OR st.id_session_type IN
     (SELECT x.id_session_type FROM core.t_sessions_types_services x WHERE x.id_service = p_id AND x.deleted_at IS NULL))
$$;

-- Users: self, plus users whose groups hold an OpenTeraServer role on one of my projects (and,
-- with p_with_site_admins, users holding a site role on the sites of those projects); superadmin
-- sees everyone. Services see the users of their projects, superadmins and their sites' admins.
CREATE FUNCTION core.acc_users(p_kind text, p_id integer, p_admin_only boolean DEFAULT false, p_with_site_admins boolean DEFAULT false)
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
   WHERE p_kind IN ('user', 'service') AND uug.deleted_at IS NULL
     AND (sr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
       OR ((p_with_site_admins OR p_kind = 'service') AND sr.id_project IS NULL AND sr.id_site IN
            (SELECT pr.id_site FROM core.t_projects pr WHERE pr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a))
            AND (p_kind = 'user' OR sr.service_role_name = 'admin')))
  UNION
  SELECT u.id_user FROM core.t_users u WHERE p_kind = 'service' AND u.user_superadmin AND u.deleted_at IS NULL
$$;

-- User groups holding an OpenTeraServer role on one of my projects (p_by_sites: on one of my sites).
CREATE FUNCTION core.acc_user_groups(p_kind text, p_id integer, p_admin_only boolean DEFAULT false, p_by_sites boolean DEFAULT false)
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
           ELSE sr.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a) END
$$;

-- Sessions: created by an accessible user/device/participant/service, or where I am invitee, or
-- with an accessible participant/device invitee. Participants and devices see the sessions they
-- created or are invited to; services those they created or of their session types.
CREATE FUNCTION core.acc_sessions(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 1000 AS $$
  SELECT x.id_session FROM (
    SELECT s.id_session FROM core.t_sessions s WHERE core.is_superadmin(p_kind, p_id)
    UNION
    SELECT sp.id_session FROM core.t_sessions_participants sp
     WHERE sp.deleted_at IS NULL AND (
           (p_kind = 'user' AND sp.id_participant IN (SELECT a.id FROM core.acc_participants(p_kind, p_id, p_admin_only) a))
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
        OR s.id_session_type IN (SELECT a.id FROM core.acc_session_types(p_kind, p_id, false) a))
  ) x JOIN core.t_sessions s ON s.id_session = x.id_session AND s.deleted_at IS NULL
$$;
-- +goose StatementEnd
