-- +goose Up
-- Service identity (ARCHITECTURE §4, "Services are principals too"): an external service proves
-- who it is with an OAuth2 client secret (client credentials grant on the login target). Only the
-- SHA-256 of the secret is kept: the secret is 256 random bits, so a fast hash is as strong as a
-- slow one and lets every login replica check it cheaply. A table of its own, not a t_services
-- column, so OpenTera's service JSON, the importer and the capture trigger never see it.
CREATE TABLE core.t_services_credentials (
  id_service     integer PRIMARY KEY REFERENCES core.t_services(id_service) ON DELETE CASCADE,
  secret_sha256  bytea NOT NULL CHECK (length(secret_sha256) = 32),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
