-- +goose Up
-- One-object access checks that PostgreSQL plans once per connection. The acc_* functions are
-- inlined into the statements that join them, which is what lets a list filter by them, but a
-- hot statement that only asks "may the caller see this one id" then re-plans the whole inlined
-- rule set (user_project_roles, the UNION of every principal kind) on every call: ~30 ms of
-- planning at 1M participants for GET /api/user/sessions?id_participant=…. These plpgsql
-- wrappers are not inlined; their one statement is planned generically (the principal kind is a
-- parameter, each UNION branch keeps a one-time filter on it), cached for the session, and the
-- calling statement stays small enough for its own plan to be cached too.
-- +goose StatementBegin
DO $do$
DECLARE o text;
BEGIN
  FOREACH o IN ARRAY ARRAY['sites', 'projects', 'participant_groups', 'participants', 'devices', 'session_types', 'services'] LOOP
    EXECUTE format($f$
      CREATE FUNCTION core.can_%1$s(p_kind text, p_id integer, p_admin_only boolean, p_target integer) RETURNS boolean
      LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $b$
      BEGIN
        RETURN EXISTS (SELECT 1 FROM core.acc_%1$s(p_kind, p_id, p_admin_only) a WHERE a.id = p_target);
      END $b$ $f$, o);
  END LOOP;
END $do$;
-- +goose StatementEnd
