-- +goose Up
-- Sessions: OpenTera's single-session access check, and the daily close of past sessions run
-- once per fleet.

-- The project of a session: its first invited participant's, else its creator participant's
-- (OpenTera's TeraSession.get_associated_project_id). NULL when it has no participant.
-- +goose StatementBegin
CREATE FUNCTION core.session_project(p_session integer) RETURNS integer LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT p.id_project FROM core.t_sessions_participants sp
       JOIN core.t_participants p ON p.id_participant = sp.id_participant AND p.deleted_at IS NULL
      WHERE sp.id_session = p_session AND sp.deleted_at IS NULL
      ORDER BY sp.id_session_participant LIMIT 1),
    (SELECT p.id_project FROM core.t_sessions s
       JOIN core.t_participants p ON p.id_participant = s.id_creator_participant AND p.deleted_at IS NULL
      WHERE s.id_session = p_session))
$$;

-- Whether a user may see (and so write) one session: superadmins, its creator, an invited user,
-- or a user with a role in the session's project (OpenTera's query_session).
CREATE FUNCTION core.user_can_session(p_user integer, p_session integer) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM core.t_sessions s
     WHERE s.id_session = p_session AND s.deleted_at IS NULL
       AND (core.is_superadmin('user', p_user)
         OR s.id_creator_user = p_user
         OR EXISTS (SELECT 1 FROM core.t_sessions_users su
                     WHERE su.id_session = s.id_session AND su.id_user = p_user AND su.deleted_at IS NULL)
         OR core.session_project(s.id_session) IN (SELECT a.id FROM core.acc_projects('user', p_user, false) a)))
$$;
-- +goose StatementEnd

-- Daily jobs claim their day here, so one replica of the fleet runs each (the row lock of the
-- upsert serializes replicas waking at the same time; the loser sees the day taken).
CREATE TABLE core.daily_jobs (
  job       text PRIMARY KEY,
  last_day  date NOT NULL
);

-- OpenTera's midnight cleanup: sessions not started whose start is past become cancelled (3),
-- sessions still in progress whose start is past become terminated (4). Returns the number of
-- sessions changed, or -1 when the day was already claimed.
-- +goose StatementBegin
CREATE FUNCTION core.close_past_sessions(p_day date) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  claimed integer;
  n integer;
BEGIN
  INSERT INTO core.daily_jobs AS j (job, last_day) VALUES ('close_past_sessions', p_day)
  ON CONFLICT (job) DO UPDATE SET last_day = EXCLUDED.last_day WHERE j.last_day < EXCLUDED.last_day;
  GET DIAGNOSTICS claimed = ROW_COUNT;
  IF claimed = 0 THEN
    RETURN -1;
  END IF;
  UPDATE core.t_sessions SET session_status = CASE session_status WHEN 0 THEN 3 ELSE 4 END
   WHERE deleted_at IS NULL AND session_status IN (0, 1) AND session_start_datetime <= now();
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
-- +goose StatementEnd
