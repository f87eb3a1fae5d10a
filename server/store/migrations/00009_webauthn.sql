-- WebAuthn / passkeys as a second factor (issue 5): each user's registered credentials,
-- and the challenges of ceremonies in flight, bound to the session that began them and
-- used once. Version 10 (Go) adds row-level security on PostgreSQL.

-- +goose Up
-- webauthn_credentials are security keys and passkeys. credential_id is the
-- authenticator's ID, unique across tenants; record is the go-webauthn Credential as
-- JSON (flags, AAGUID, attestation) for what the columns do not hold.
CREATE TABLE webauthn_credentials (
    tenant_id     TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    id            TEXT   NOT NULL CHECK (id <> ''),
    credential_id BYTEA  NOT NULL UNIQUE,
    rp_id         TEXT   NOT NULL,
    public_key    BYTEA  NOT NULL,
    sign_count    BIGINT NOT NULL DEFAULT 0,
    transports    TEXT   NOT NULL DEFAULT '',
    name          TEXT   NOT NULL,
    record        BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (tenant_id, user_id);

-- webauthn_challenges hold the go-webauthn SessionData of one ceremony (kind
-- "register" or "login") begun in one session; taking one deletes it.
CREATE TABLE webauthn_challenges (
    tenant_id  TEXT   NOT NULL,
    session_id TEXT   NOT NULL CHECK (session_id <> ''),
    kind       TEXT   NOT NULL CHECK (kind IN ('register', 'login')),
    user_id    TEXT   NOT NULL,
    data       BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session_id, kind),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE webauthn_challenges;
DROP INDEX webauthn_credentials_user;
DROP TABLE webauthn_credentials;
