-- +goose Up
-- /api/user/stats of a site at 1M participants still counted ~10,000 participant rows per call
-- (85 ms of a superadmin's 157 ms) for participants_total_count and participants_enabled_count.
-- The per-project counter table of 00021 now keeps, beside the live session links, the live
-- participants and the enabled ones, so a site's figures are sums over its ~10 projects.
--
-- One statement-level trigger function replaces 00021's four. Every write of a counted table
-- (an INSERT, an UPDATE, a DELETE, a COPY) signs its rows, +1 for the new versions and -1 for the
-- old, turns each into what it adds to its project's counts, sums them by project and applies
-- the sums in project order (concurrent writers lock the counters in one order). A change that
-- moves nothing (a participant's rename, a login's lastonline) sums to zero and writes nothing.
--   t_sessions_participants: a live link counts one session in its participant's project. A
--     session's soft delete cascades to its links (core.cascade_session).
--   t_participants: a live participant counts one, and one more when enabled; an UPDATE also
--     moves its live links' sessions (both versions count them, so they cancel unless the project
--     changed). A new participant has no links yet, a hard-deleted one none left (foreign key).
-- Bulk loads with triggers off (the importer) call core.recount_project_counts() before commit.
ALTER TABLE core.t_project_session_counts RENAME TO t_project_counts;
ALTER TABLE core.t_project_counts RENAME CONSTRAINT t_project_session_counts_pkey TO t_project_counts_pkey;
ALTER TABLE core.t_project_counts RENAME CONSTRAINT t_project_session_counts_id_project_fkey TO t_project_counts_id_project_fkey;
ALTER TABLE core.t_project_counts
  ADD COLUMN participants         bigint NOT NULL DEFAULT 0,
  ADD COLUMN participants_enabled bigint NOT NULL DEFAULT 0;

DROP TRIGGER t_participants_count_move ON core.t_participants;
DROP TRIGGER t_sessions_participants_count_delete ON core.t_sessions_participants;
DROP TRIGGER t_sessions_participants_count_update ON core.t_sessions_participants;
DROP TRIGGER t_sessions_participants_count_insert ON core.t_sessions_participants;
DROP FUNCTION core.recount_project_sessions();
DROP FUNCTION core.count_sessions_moved();
DROP FUNCTION core.count_sessions_deleted();
DROP FUNCTION core.count_sessions_updated();
DROP FUNCTION core.count_sessions_inserted();
DROP FUNCTION core.add_project_sessions(integer, bigint);

-- +goose StatementBegin
CREATE FUNCTION core.count_project_rows() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  -- The statement's rows, signed. The transition tables are n (new) and o (old).
  changed text := concat_ws(' UNION ALL ',
    CASE WHEN TG_OP <> 'DELETE' THEN 'SELECT 1 AS sign, * FROM n' END,
    CASE WHEN TG_OP <> 'INSERT' THEN 'SELECT -1 AS sign, * FROM o' END);
  -- What each signed row adds to its project: (id_project, sessions, participants, enabled).
  deltas text := CASE TG_TABLE_NAME
    WHEN 't_sessions_participants' THEN
      'SELECT p.id_project, x.sign * (x.deleted_at IS NULL)::int, 0, 0
         FROM changed x JOIN core.t_participants p USING (id_participant)'
    WHEN 't_participants' THEN
      'SELECT x.id_project, ' || CASE WHEN TG_OP = 'UPDATE' THEN
        'x.sign * (SELECT count(*) FROM core.t_sessions_participants sp
                    WHERE sp.id_participant = x.id_participant AND sp.deleted_at IS NULL)' ELSE '0' END || ',
              x.sign * (x.deleted_at IS NULL)::int, x.sign * (x.deleted_at IS NULL AND x.participant_enabled)::int
         FROM changed x'
  END;
BEGIN
  EXECUTE format('WITH changed AS (%s), d (id_project, sessions, participants, enabled) AS (%s)
    INSERT INTO core.t_project_counts AS c (id_project, sessions, participants, participants_enabled)
    SELECT id_project, sum(sessions), sum(participants), sum(enabled) FROM d GROUP BY id_project
    HAVING sum(sessions) <> 0 OR sum(participants) <> 0 OR sum(enabled) <> 0
     ORDER BY id_project
        ON CONFLICT (id_project) DO UPDATE SET sessions = c.sessions + EXCLUDED.sessions,
           participants = c.participants + EXCLUDED.participants,
           participants_enabled = c.participants_enabled + EXCLUDED.participants_enabled', changed, deltas);
  RETURN NULL;
END $f$;

-- recount_project_counts recomputes every project's counts from the links and participants.
CREATE FUNCTION core.recount_project_counts() RETURNS void LANGUAGE sql AS $$
  DELETE FROM core.t_project_counts;
  INSERT INTO core.t_project_counts (id_project, sessions, participants, participants_enabled)
  SELECT id_project, sum(sessions), sum(participants), sum(enabled) FROM (
    SELECT p.id_project, count(*) AS sessions, 0 AS participants, 0 AS enabled
      FROM core.t_sessions_participants sp JOIN core.t_participants p ON p.id_participant = sp.id_participant
     WHERE sp.deleted_at IS NULL GROUP BY p.id_project
    UNION ALL
    SELECT id_project, 0, count(*), count(*) FILTER (WHERE participant_enabled)
      FROM core.t_participants WHERE deleted_at IS NULL GROUP BY id_project) x
  GROUP BY id_project;
$$;
-- +goose StatementEnd

CREATE TRIGGER t_sessions_participants_count_insert AFTER INSERT ON core.t_sessions_participants
  REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION core.count_project_rows();
CREATE TRIGGER t_sessions_participants_count_update AFTER UPDATE ON core.t_sessions_participants
  REFERENCING NEW TABLE AS n OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION core.count_project_rows();
CREATE TRIGGER t_sessions_participants_count_delete AFTER DELETE ON core.t_sessions_participants
  REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION core.count_project_rows();
CREATE TRIGGER t_participants_count_insert AFTER INSERT ON core.t_participants
  REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION core.count_project_rows();
CREATE TRIGGER t_participants_count_update AFTER UPDATE ON core.t_participants
  REFERENCING NEW TABLE AS n OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION core.count_project_rows();
CREATE TRIGGER t_participants_count_delete AFTER DELETE ON core.t_participants
  REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION core.count_project_rows();

SELECT core.recount_project_counts();

-- +goose Down
-- Back to 00021: session sums only, by its own functions.
DROP TRIGGER t_participants_count_delete ON core.t_participants;
DROP TRIGGER t_participants_count_update ON core.t_participants;
DROP TRIGGER t_participants_count_insert ON core.t_participants;
DROP TRIGGER t_sessions_participants_count_delete ON core.t_sessions_participants;
DROP TRIGGER t_sessions_participants_count_update ON core.t_sessions_participants;
DROP TRIGGER t_sessions_participants_count_insert ON core.t_sessions_participants;
DROP FUNCTION core.recount_project_counts();
DROP FUNCTION core.count_project_rows();
ALTER TABLE core.t_project_counts DROP COLUMN participants_enabled, DROP COLUMN participants;
ALTER TABLE core.t_project_counts RENAME CONSTRAINT t_project_counts_id_project_fkey TO t_project_session_counts_id_project_fkey;
ALTER TABLE core.t_project_counts RENAME CONSTRAINT t_project_counts_pkey TO t_project_session_counts_pkey;
ALTER TABLE core.t_project_counts RENAME TO t_project_session_counts;

-- +goose StatementBegin
CREATE FUNCTION core.add_project_sessions(p_project integer, delta bigint) RETURNS void LANGUAGE sql AS $$
  INSERT INTO core.t_project_session_counts AS c (id_project, sessions) VALUES (p_project, delta)
  ON CONFLICT (id_project) DO UPDATE SET sessions = c.sessions + EXCLUDED.sessions;
$$;

CREATE FUNCTION core.count_sessions_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT p.id_project, count(*) AS delta FROM n JOIN core.t_participants p USING (id_participant)
            WHERE n.deleted_at IS NULL GROUP BY p.id_project ORDER BY p.id_project LOOP
    PERFORM core.add_project_sessions(r.id_project, r.delta);
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION core.count_sessions_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT p.id_project, sum(x.delta) AS delta
             FROM (SELECT id_participant, 1 AS delta FROM n WHERE deleted_at IS NULL
                   UNION ALL SELECT id_participant, -1 FROM o WHERE deleted_at IS NULL) x
             JOIN core.t_participants p USING (id_participant)
            GROUP BY p.id_project HAVING sum(x.delta) <> 0 ORDER BY p.id_project LOOP
    PERFORM core.add_project_sessions(r.id_project, r.delta);
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION core.count_sessions_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT p.id_project, -count(*) AS delta FROM o JOIN core.t_participants p USING (id_participant)
            WHERE o.deleted_at IS NULL GROUP BY p.id_project ORDER BY p.id_project LOOP
    PERFORM core.add_project_sessions(r.id_project, r.delta);
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION core.count_sessions_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT x.id_project, sum(x.delta)::bigint AS delta FROM (
             SELECT n.id_project, count(*) AS delta FROM n JOIN o USING (id_participant)
               JOIN core.t_sessions_participants sp ON sp.id_participant = n.id_participant AND sp.deleted_at IS NULL
              WHERE n.id_project <> o.id_project GROUP BY n.id_project
             UNION ALL
             SELECT o.id_project, -count(*) FROM n JOIN o USING (id_participant)
               JOIN core.t_sessions_participants sp ON sp.id_participant = o.id_participant AND sp.deleted_at IS NULL
              WHERE n.id_project <> o.id_project GROUP BY o.id_project) x
           GROUP BY x.id_project HAVING sum(x.delta) <> 0 ORDER BY x.id_project LOOP
    PERFORM core.add_project_sessions(r.id_project, r.delta);
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION core.recount_project_sessions() RETURNS void LANGUAGE sql AS $$
  DELETE FROM core.t_project_session_counts;
  INSERT INTO core.t_project_session_counts (id_project, sessions)
  SELECT p.id_project, count(*) FROM core.t_sessions_participants sp
    JOIN core.t_participants p ON p.id_participant = sp.id_participant
   WHERE sp.deleted_at IS NULL GROUP BY p.id_project;
$$;
-- +goose StatementEnd

CREATE TRIGGER t_sessions_participants_count_insert AFTER INSERT ON core.t_sessions_participants
  REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION core.count_sessions_inserted();
CREATE TRIGGER t_sessions_participants_count_update AFTER UPDATE ON core.t_sessions_participants
  REFERENCING NEW TABLE AS n OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION core.count_sessions_updated();
CREATE TRIGGER t_sessions_participants_count_delete AFTER DELETE ON core.t_sessions_participants
  REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION core.count_sessions_deleted();
CREATE TRIGGER t_participants_count_move AFTER UPDATE ON core.t_participants
  REFERENCING NEW TABLE AS n OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION core.count_sessions_moved();

SELECT core.recount_project_sessions();
