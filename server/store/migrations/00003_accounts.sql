-- Accounts and sign-in (issue 5): password and lock state, TOTP, recovery codes, sign-in
-- failures for throttling, each tenant's security policy, session details for the
-- sessions page, and an append-only audit table. Version 2 is the Go migration that
-- adds PostgreSQL's row-level security; version 4 (Go as well) adds it to these tables.

-- +goose Up
-- password_changed_at feeds the optional expiry policy; 0 is "unknown" (before this
-- migration), which the policy treats as the creation time.
ALTER TABLE users ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;
-- locked_at is set while an administrator has locked the account.
ALTER TABLE users ADD COLUMN locked_at BIGINT;
-- totp_seed is the TOTP secret sealed to the tenant's age recipient; NULL without TOTP.
ALTER TABLE users ADD COLUMN totp_seed BYTEA;
-- totp_last_step is the last 30-second step whose code was accepted: no code of that
-- step or before is accepted again.
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

-- id names a session on the sessions page without revealing its secret's hash; stage
-- is 'full', or 'mfa' (password accepted, second factor awaited), or 'setup' (only the
-- password change or 2FA set-up pages are open to it).
ALTER TABLE sessions ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_id ON sessions (tenant_id, id);

CREATE TABLE tenant_policies (
    tenant_id        TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    require_2fa      BOOLEAN NOT NULL,
    -- durations in nanoseconds; 0 means the default (timeouts) or off (expiry)
    password_max_age BIGINT  NOT NULL CHECK (password_max_age >= 0),
    idle_timeout     BIGINT  NOT NULL CHECK (idle_timeout >= 0),
    absolute_timeout BIGINT  NOT NULL CHECK (absolute_timeout >= 0),
    updated_at       BIGINT  NOT NULL
);

CREATE TABLE recovery_codes (
    tenant_id  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    hash       BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (tenant_id, user_id, hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE signin_failures (
    tenant_id TEXT   NOT NULL,
    user_id   TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX signin_failures_user ON signin_failures (tenant_id, user_id, at);

-- audit_events is appended to and read, never changed. user_id is not a foreign key,
-- so the record outlives the account.
CREATE TABLE audit_events (
    tenant_id TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id        TEXT   NOT NULL CHECK (id <> ''),
    at        BIGINT NOT NULL,
    action    TEXT   NOT NULL CHECK (action <> ''),
    actor     TEXT   NOT NULL,
    user_id   TEXT   NOT NULL,
    ip        TEXT   NOT NULL,
    detail    TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_events_at ON audit_events (tenant_id, at);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE signin_failures;
DROP TABLE recovery_codes;
DROP TABLE tenant_policies;
DROP INDEX sessions_id;
ALTER TABLE sessions DROP COLUMN user_agent;
ALTER TABLE sessions DROP COLUMN ip;
ALTER TABLE sessions DROP COLUMN stage;
ALTER TABLE sessions DROP COLUMN id;
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_seed;
ALTER TABLE users DROP COLUMN locked_at;
ALTER TABLE users DROP COLUMN password_changed_at;
