-- +goose Up
-- A DatabaseEvent carries OpenTera's event JSON of its row, not the whole row. Every service
-- that consumes a model's events receives all of them, whatever its roles reach, so nothing in
-- them may be another principal's secret. Until now the payload was the row minus passwords and
-- OTP secrets: a participant's update carried its static token (participant_token) and a
-- device's its token (device_token) to every service.
--
-- OpenTera's to_json_create_event / to_json_update_event are to_json(minimal=True) for users,
-- participants and devices (opentera/db/models/TeraUser.py, TeraParticipant.py, TeraDevice.py).
-- The same keys are dropped here:
--   participant: participant_username, participant_lastonline, participant_login_enabled,
--                participant_token;
--   device: device_onlineable, device_config, device_notes, device_lastonline, device_infos,
--           device_token;
--   user: user_username, user_email, user_profile, user_notes, user_lastonline,
--         user_2fa_otp_enabled, user_2fa_email_enabled, user_force_password_change, and user_name
--         (first and last name) added. (OpenTera's list runs 'user_superadmin' 'user_2fa_enabled'
--         together into one name, so both stay in its events, and here.)
-- Stricter than OpenTera, which means to hide them but does not:
--   server_settings: the value of TokenEncryptionKey, ParticipantTokenEncryptionKey and
--     DeviceRegisterKey (OpenTera's ignore list names keys its rows do not have, so its events
--     carry them);
--   test_invitation: test_invitation_key, which lets whoever holds it answer the test as the
--     invitee; the test type's own service reads it from /api/service/tests/invitations.
-- The delete events keep their one key. Rows already captured lose the same keys (those not yet
-- published go out without them; copies already in JetStream age out with the stream, 7 days).
-- core.outbox_event_json holds the rule; core.outbox_capture replaces 00023's whole (its tracing
-- column stays): the next change to the capture trigger starts from here.

-- +goose StatementBegin
CREATE FUNCTION core.outbox_event_json(model text, j jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE model
    WHEN 'participant' THEN
      j - ARRAY['participant_username', 'participant_lastonline', 'participant_login_enabled', 'participant_token']
    WHEN 'device' THEN
      j - ARRAY['device_onlineable', 'device_config', 'device_notes', 'device_lastonline', 'device_infos', 'device_token']
    WHEN 'user' THEN
      (j - ARRAY['user_username', 'user_email', 'user_profile', 'user_notes', 'user_lastonline',
                 'user_2fa_otp_enabled', 'user_2fa_email_enabled', 'user_force_password_change'])
        || jsonb_build_object('user_name', concat(j ->> 'user_firstname', ' ', j ->> 'user_lastname'))
    WHEN 'server_settings' THEN
      CASE WHEN j ->> 'server_settings_name' IN ('TokenEncryptionKey', 'ParticipantTokenEncryptionKey', 'DeviceRegisterKey')
           THEN j - 'server_settings_value' ELSE j END
    WHEN 'test_invitation' THEN
      j - 'test_invitation_key'
    ELSE j
  END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION core.outbox_capture() RETURNS trigger LANGUAGE plpgsql AS $$
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
      payload := core.outbox_event_json(model, payload);
    END IF;
  END IF;
  INSERT INTO core.outbox (model, event_type, object_value, traceparent)
    VALUES (model, kind, payload::text, nullif(current_setting('tera.traceparent', true), ''));
  PERFORM pg_notify('tera_outbox', '');
  RETURN NULL;
END $$;
-- +goose StatementEnd

UPDATE core.outbox SET object_value = core.outbox_event_json(model, object_value::jsonb)::text
 WHERE event_type <> 3 AND model IN ('participant', 'device', 'user', 'server_settings', 'test_invitation');
