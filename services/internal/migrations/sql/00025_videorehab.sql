-- +goose Up
-- The videorehab target's state (OpenTera's VideoRehabService kept it in process memory, lost
-- on a restart): one row per live video session, written by whichever replica handles a
-- session_manage request, under a row lock, in the same transaction as the session's status,
-- duration and events in core. A replica restarted mid-session finds the session here.
CREATE SCHEMA IF NOT EXISTS videorehab;

CREATE TABLE videorehab.live_sessions (
  id_session           integer PRIMARY KEY REFERENCES core.t_sessions(id_session),
  session_uuid         varchar(36) NOT NULL UNIQUE,
  -- The room's secret, in the session URLs (OpenTera's session_key).
  session_key          varchar(36) NOT NULL UNIQUE,
  -- Who started it: its refusal or disconnection ends the session.
  creator_kind         text NOT NULL CHECK (creator_kind IN ('user', 'participant', 'device', 'service')),
  creator_uuid         varchar(36) NOT NULL,
  -- The current invitees (uuids); removed or refusing invitees leave these lists, not the
  -- session's links in core (OpenTera keeps the trace that they were invited).
  session_users        text[] NOT NULL DEFAULT '{}',
  session_participants text[] NOT NULL DEFAULT '{}',
  session_devices      text[] NOT NULL DEFAULT '{}',
  -- The parameters given at start (JSON text), sent with every invitation.
  session_parameters   text,
  join_msg             text NOT NULL DEFAULT '',
  -- When the last SESSION_START was recorded: stop adds the time since to session_duration.
  started_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_sessions_users ON videorehab.live_sessions USING gin (session_users);
CREATE INDEX live_sessions_participants ON videorehab.live_sessions USING gin (session_participants);
CREATE INDEX live_sessions_devices ON videorehab.live_sessions USING gin (session_devices);
CREATE INDEX live_sessions_creator ON videorehab.live_sessions (creator_uuid);
