-- +goose Up
-- OpenTera refuses to remove a test type from a project while tests of that type were taken in
-- sessions of the project's participants (TeraTestTypeProject.delete_check_integrity, reached
-- from /testtypes/projects, /testtypes/sites through TeraTestTypeSite.delete_check_integrity,
-- and their service API twins). Removing a type from a site removes its project links there
-- (cascade_test_type_site), so the refusal covers that removal too. As with session types
-- (00018), a test type POST replacing its project list edits the relationship directly and is
-- never refused: it turns the check off for its transaction with
-- set_config('tera.test_type_project_check', 'off', true).
-- +goose StatementBegin
CREATE FUNCTION core.check_delete_test_type_project() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('tera.test_type_project_check', true), '') = 'off' THEN RETURN NEW; END IF;
  IF EXISTS (SELECT 1 FROM core.t_projects WHERE id_project = OLD.id_project AND deleted_at IS NULL)
     AND EXISTS (SELECT 1 FROM core.t_tests t JOIN core.t_sessions s ON s.id_session = t.id_session AND s.deleted_at IS NULL
                  WHERE t.id_test_type = OLD.id_test_type AND t.deleted_at IS NULL
                    AND (s.id_creator_participant IN (SELECT id_participant FROM core.t_participants WHERE id_project = OLD.id_project)
                      OR EXISTS (SELECT 1 FROM core.t_sessions_participants sp JOIN core.t_participants p USING (id_participant)
                                  WHERE sp.id_session = s.id_session AND sp.deleted_at IS NULL AND p.id_project = OLD.id_project))) THEN
    PERFORM core.refuse('Test type has tests in this project');
  END IF;
  RETURN NEW;
END $$;
-- +goose StatementEnd

CREATE TRIGGER check_delete_test_type_project BEFORE UPDATE ON core.t_tests_types_projects FOR EACH ROW
  WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION core.check_delete_test_type_project();

-- +goose Down
DROP TRIGGER check_delete_test_type_project ON core.t_tests_types_projects;
DROP FUNCTION core.check_delete_test_type_project();
