-- +goose Up
-- OpenTera refuses to unlink a session type from a project while it has sessions there only
-- through TeraSessionTypeProject.delete (the /sessiontypes/projects endpoint and the site
-- cascade). A project POST that replaces its "sessiontypes" list edits the relationship
-- directly and is never refused, and clients rely on that (OpenTeraPlus saves a project's whole
-- type list). The project POST turns the check off for its own transaction with
-- set_config('tera.session_type_project_check', 'off', true), as 00004 does with tera.autolink.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION core.check_delete_session_type_project() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('tera.session_type_project_check', true), '') = 'off' THEN RETURN NEW; END IF;
  IF EXISTS (SELECT 1 FROM core.t_projects WHERE id_project = OLD.id_project AND deleted_at IS NULL)
     AND EXISTS (SELECT 1 FROM core.t_sessions s
                  WHERE s.id_session_type = OLD.id_session_type AND s.deleted_at IS NULL
                    AND (s.id_creator_participant IN (SELECT id_participant FROM core.t_participants WHERE id_project = OLD.id_project)
                      OR EXISTS (SELECT 1 FROM core.t_sessions_participants sp JOIN core.t_participants p USING (id_participant)
                                  WHERE sp.id_session = s.id_session AND sp.deleted_at IS NULL AND p.id_project = OLD.id_project))) THEN
    PERFORM core.refuse('Session type has sessions in this project');
  END IF;
  RETURN NEW;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION core.check_delete_session_type_project() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM core.t_projects WHERE id_project = OLD.id_project AND deleted_at IS NULL)
     AND EXISTS (SELECT 1 FROM core.t_sessions s
                  WHERE s.id_session_type = OLD.id_session_type AND s.deleted_at IS NULL
                    AND (s.id_creator_participant IN (SELECT id_participant FROM core.t_participants WHERE id_project = OLD.id_project)
                      OR EXISTS (SELECT 1 FROM core.t_sessions_participants sp JOIN core.t_participants p USING (id_participant)
                                  WHERE sp.id_session = s.id_session AND sp.deleted_at IS NULL AND p.id_project = OLD.id_project))) THEN
    PERFORM core.refuse('Session type has sessions in this project');
  END IF;
  RETURN NEW;
END $$;
-- +goose StatementEnd
