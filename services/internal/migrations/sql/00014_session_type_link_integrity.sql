-- +goose Up
-- OpenTera refuses to remove a session type from a project while sessions of that type involve
-- the project's participants (TeraSessionTypeProject.delete_check_integrity), and a secondary
-- service from a type that has sessions (TeraSessionTypeServices.delete_check_integrity).
-- Removing a type from a site removes its project links there (cascade_session_type_site), so
-- the first refusal covers that removal too. Cascades from deleting the project or the service
-- itself are left to those objects' own refusals.
-- +goose StatementBegin
CREATE FUNCTION core.check_delete_session_type_project() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE FUNCTION core.check_delete_session_type_service() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM core.t_services WHERE id_service = OLD.id_service AND deleted_at IS NULL)
     AND EXISTS (SELECT 1 FROM core.t_sessions WHERE id_session_type = OLD.id_session_type AND deleted_at IS NULL) THEN
    PERFORM core.refuse('Session type has sessions');
  END IF;
  RETURN NEW;
END $$;
-- +goose StatementEnd

CREATE TRIGGER check_delete_session_type_project BEFORE UPDATE ON core.t_sessions_types_projects FOR EACH ROW
  WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION core.check_delete_session_type_project();
CREATE TRIGGER check_delete_session_type_service BEFORE UPDATE ON core.t_sessions_types_services FOR EACH ROW
  WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION core.check_delete_session_type_service();

-- +goose Down
DROP TRIGGER check_delete_session_type_service ON core.t_sessions_types_services;
DROP TRIGGER check_delete_session_type_project ON core.t_sessions_types_projects;
DROP FUNCTION core.check_delete_session_type_service();
DROP FUNCTION core.check_delete_session_type_project();
