-- +goose Up
-- Transactional outbox (ARCHITECTURE §3). Every create/update/delete of the models OpenTera
-- publishes a DatabaseEvent for (REFERENCE §6) writes one row here, in the writer's transaction,
-- from a trigger: no code path (API, seed, cascade, side effect) can forget it. The relay in
-- services/internal/outbox publishes unpublished rows to JetStream with Nats-Msg-Id = id.
CREATE TABLE core.outbox (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model         text NOT NULL,                -- OpenTera model name: participant, session_type_site, …
  event_type    smallint NOT NULL,            -- DatabaseEvent.EventType: 1 create, 2 update, 3 delete
  object_value  text NOT NULL,                -- JSON; delete carries only {"id_<model>": n}
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON core.outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON core.outbox (published_at) WHERE published_at IS NOT NULL;

-- Bulk loads (tera seed --scale) may switch capture off for their transaction with
-- SET LOCAL tera.outbox = 'off'.
-- +goose StatementBegin
CREATE FUNCTION core.outbox_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  model   text := TG_ARGV[0];
  pk      text := TG_ARGV[1];
  newj    jsonb;
  oldj    jsonb;
  kind    smallint;
  payload jsonb;
BEGIN
  IF coalesce(current_setting('tera.outbox', true), '') = 'off' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    oldj := to_jsonb(OLD);
    kind := 3;
    payload := jsonb_build_object(pk, oldj -> pk);
  ELSE
    newj := to_jsonb(NEW);
    IF TG_OP = 'INSERT' THEN
      kind := 1;
    ELSE
      oldj := to_jsonb(OLD);
      IF newj ? 'deleted_at' AND oldj ->> 'deleted_at' IS NULL AND newj ->> 'deleted_at' IS NOT NULL THEN
        kind := 3;                               -- soft delete
      ELSIF newj ? 'deleted_at' AND oldj ->> 'deleted_at' IS NOT NULL AND newj ->> 'deleted_at' IS NULL THEN
        kind := 1;                               -- soft-insert restoring a deleted link
      ELSIF newj ->> 'deleted_at' IS NOT NULL THEN
        RETURN NULL;                             -- change to an already deleted row
      ELSE
        kind := 2;
      END IF;
    END IF;
    IF kind = 3 THEN
      payload := jsonb_build_object(pk, newj -> pk);
    ELSE
      -- Secrets never leave the database; deleted_at only appears when set (OpenTera to_json).
      payload := newj - ARRAY['user_password', 'user_2fa_otp_secret', 'participant_password', 'device_certificate'];
      IF payload -> 'deleted_at' = 'null'::jsonb THEN
        payload := payload - 'deleted_at';
      END IF;
    END IF;
  END IF;
  INSERT INTO core.outbox (model, event_type, object_value) VALUES (model, kind, payload::text);
  PERFORM pg_notify('tera_outbox', '');
  RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES
      ('t_assets', 'asset', 'id_asset'),
      ('t_devices', 'device', 'id_device'),
      ('t_participants', 'participant', 'id_participant'),
      ('t_participants_groups', 'participant_group', 'id_participant_group'),
      ('t_projects', 'project', 'id_project'),
      ('t_sessions', 'session', 'id_session'),
      ('t_sessions_types', 'session_type', 'id_session_type'),
      ('t_sites', 'site', 'id_site'),
      ('t_users', 'user', 'id_user'),
      ('t_users_groups', 'user_group', 'id_user_group'),
      ('t_tests_types', 'test_type', 'id_test_type'),
      ('t_tests', 'test', 'id_test'),
      ('t_tests_invitations', 'test_invitation', 'id_test_invitation'),
      ('t_services', 'service', 'id_service'),
      ('t_sessions_types_sites', 'session_type_site', 'id_session_type_site'),
      ('t_sessions_types_services', 'session_type_service', 'id_session_type_service'),
      ('t_sessions_types_projects', 'session_type_project', 'id_session_type_project'),
      ('t_server_settings', 'server_settings', 'id_server_settings')
    ) AS v(tbl, model, pk) LOOP
    EXECUTE format('CREATE TRIGGER outbox AFTER INSERT OR UPDATE OR DELETE ON core.%I FOR EACH ROW EXECUTE FUNCTION core.outbox_capture(%L, %L)',
                   r.tbl, r.model, r.pk);
  END LOOP;
END $$;
-- +goose StatementEnd
