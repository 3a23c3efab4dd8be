-- +goose Up
-- Test types as an access object (OpenTera's get_accessible_tests_types of each principal kind):
-- users see the types linked to one of their sites (admin_only: sites they administer) whose
-- service they see, superadmins every type; participants and devices the types linked to their
-- projects; services their own types.
-- +goose StatementBegin
CREATE FUNCTION core.acc_test_types(p_kind text, p_id integer, p_admin_only boolean DEFAULT false)
RETURNS TABLE (id integer) LANGUAGE sql STABLE ROWS 20 AS $$
  SELECT tt.id_test_type FROM core.t_tests_types tt WHERE tt.deleted_at IS NULL AND core.is_superadmin(p_kind, p_id)
  UNION
  SELECT tt.id_test_type FROM core.t_tests_types_sites tts
    JOIN core.t_tests_types tt ON tt.id_test_type = tts.id_test_type AND tt.deleted_at IS NULL
   WHERE p_kind = 'user' AND tts.deleted_at IS NULL
     AND tts.id_site IN (SELECT a.id FROM core.acc_sites(p_kind, p_id, p_admin_only) a)
     AND tt.id_service IN (SELECT a.id FROM core.acc_services(p_kind, p_id, false) a)
  UNION
  SELECT tt.id_test_type FROM core.t_tests_types_projects ttp
    JOIN core.t_tests_types tt ON tt.id_test_type = ttp.id_test_type AND tt.deleted_at IS NULL
   WHERE p_kind IN ('participant', 'device') AND ttp.deleted_at IS NULL
     AND ttp.id_project IN (SELECT a.id FROM core.acc_projects(p_kind, p_id, p_admin_only) a)
  UNION
  SELECT tt.id_test_type FROM core.t_tests_types tt WHERE p_kind = 'service' AND tt.id_service = p_id AND tt.deleted_at IS NULL
$$;
-- +goose StatementEnd

-- A timestamp as Python's isoformat() of an aware UTC datetime (OpenTera's JSON dates), for
-- JSON built in SQL: microseconds only when there are some.
-- +goose StatementBegin
CREATE FUNCTION core.isoformat(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', t) = t THEN 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'
                                            ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"' END)
$$;
-- +goose StatementEnd
