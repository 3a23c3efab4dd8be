-- +goose Up
-- Tracing (pkg/telemetry): a write made by a traced request stores its span's W3C traceparent
-- in the transaction-local setting tera.traceparent (services/internal/dbtrace.TxOptions); the
-- capture trigger copies it into the outbox row, and the relay publishes the event as a child
-- of that span, with the trace context in the message headers, so the event's consumers
-- continue the writer's trace. Untraced writes leave it NULL.
ALTER TABLE core.outbox ADD COLUMN traceparent text;

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
    END IF;
  END IF;
  INSERT INTO core.outbox (model, event_type, object_value, traceparent)
    VALUES (model, kind, payload::text, nullif(current_setting('tera.traceparent', true), ''));
  PERFORM pg_notify('tera_outbox', '');
  RETURN NULL;
END $$;
-- +goose StatementEnd
