-- +goose Up
-- OpenTera's /api/user/stats counts a site's or project's sessions as the sum, over its
-- participants, of their live t_sessions_participants rows. At 1M participants and 10M sessions a
-- site holds ~100k such rows, and counting them on every dashboard load cost 0.1–0.6 s. The sum
-- is kept per project instead, by statement-level triggers (a bulk INSERT … SELECT of millions of
-- links costs one UPDATE per project, not one per row). A session's soft delete cascades to its
-- links (core.cascade_session), and a participant with live sessions cannot be deleted
-- (core.check_delete_participant), so the links and a participant's move to another project are
-- all that change the sums. Bulk loads with triggers off (the importer) call
-- core.recount_project_sessions() before they commit.
CREATE TABLE core.t_project_session_counts (
  id_project integer PRIMARY KEY REFERENCES core.t_projects(id_project) ON DELETE CASCADE,
  sessions   bigint NOT NULL DEFAULT 0
);

-- +goose StatementBegin
-- add_project_sessions adds delta to a project's sum.
CREATE FUNCTION core.add_project_sessions(p_project integer, delta bigint) RETURNS void LANGUAGE sql AS $$
  INSERT INTO core.t_project_session_counts AS c (id_project, sessions) VALUES (p_project, delta)
  ON CONFLICT (id_project) DO UPDATE SET sessions = c.sessions + EXCLUDED.sessions;
$$;

-- Each trigger sums its links' deltas by project and applies them in project order, so that
-- concurrent writers lock the counters in one order.
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

-- A participant moved to another project takes its sessions along.
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

-- recount_project_sessions recomputes every project's sum from the links.
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

-- +goose Down
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
DROP TABLE core.t_project_session_counts;
