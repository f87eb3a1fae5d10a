-- OAuth 2.0 for agents and the desktop recorder (issue 5): enrollment codes, agents'
-- client credentials, refresh tokens, and the short-lived state of the authorization
-- code and device grants. Every secret is kept only as a SHA-256 hash. Access tokens are
-- rows of tokens, linked to the client that obtained them by client_id, so revoking an
-- agent revokes them too. Version 8 (Go) adds row-level security on PostgreSQL.

-- +goose Up
-- client_id names the OAuth client an access token was issued to: an agent's client ID,
-- or the desktop recorder's; NULL for tokens made with "aula-server token create".
ALTER TABLE tokens ADD COLUMN client_id TEXT;
CREATE INDEX tokens_client ON tokens (tenant_id, client_id);

-- oauth_clients are agents' credentials: one per enrolled room PC.
CREATE TABLE oauth_clients (
    tenant_id   TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT   NOT NULL UNIQUE CHECK (id <> ''),
    room        TEXT   NOT NULL CHECK (room <> ''),
    secret_hash BYTEA  NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    PRIMARY KEY (tenant_id, id)
);

-- oauth_enrollments are one-time codes an administrator makes for a room; client_id is
-- the credential the code was traded for, set when it was used.
CREATE TABLE oauth_enrollments (
    tenant_id  TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT   NOT NULL CHECK (id <> ''),
    room       TEXT   NOT NULL CHECK (room <> ''),
    code_hash  BYTEA  NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    client_id  TEXT,
    PRIMARY KEY (tenant_id, id)
);

-- oauth_refresh_tokens rotate: each use marks the token used and issues the next one of
-- its family; a used token presented again revokes the whole family (a stolen copy).
CREATE TABLE oauth_refresh_tokens (
    tenant_id  TEXT   NOT NULL,
    id         TEXT   NOT NULL CHECK (id <> ''),
    family     TEXT   NOT NULL,
    hash       BYTEA  NOT NULL UNIQUE,
    client_id  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    scopes     TEXT   NOT NULL,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (tenant_id, family);

-- oauth_auth_requests are authorization requests of the code grant, from /authorize to
-- the token exchange (minutes). They belong to no tenant until a signed-in user approves
-- one; then tenant_id and user_id are set.
CREATE TABLE oauth_auth_requests (
    id             TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    client_id      TEXT   NOT NULL,
    redirect_uri   TEXT   NOT NULL,
    state          TEXT   NOT NULL,
    nonce          TEXT   NOT NULL,
    scopes         TEXT   NOT NULL,
    response_type  TEXT   NOT NULL,
    response_mode  TEXT   NOT NULL,
    code_challenge TEXT   NOT NULL,
    code_method    TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    tenant_id      TEXT   NOT NULL,
    user_id        TEXT   NOT NULL,
    auth_time      BIGINT NOT NULL,
    done           BOOLEAN NOT NULL,
    code_hash      BYTEA UNIQUE
);

-- oauth_device_codes are device authorization requests (RFC 8628), from the device's
-- request to its token (minutes); tenant_id and user_id are set when a signed-in user
-- approves the user code.
CREATE TABLE oauth_device_codes (
    device_hash BYTEA  NOT NULL PRIMARY KEY,
    user_code   TEXT   NOT NULL UNIQUE,
    client_id   TEXT   NOT NULL,
    scopes      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    state       TEXT   NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
    tenant_id   TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    auth_time   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE oauth_device_codes;
DROP TABLE oauth_auth_requests;
DROP TABLE oauth_refresh_tokens;
DROP TABLE oauth_enrollments;
DROP TABLE oauth_clients;
DROP INDEX tokens_client;
ALTER TABLE tokens DROP COLUMN client_id;
