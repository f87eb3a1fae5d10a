-- The metadata schema, one text for SQLite and PostgreSQL. Column types are spelled so
-- that both read them the same way: BIGINT is INTEGER affinity in SQLite and int8 in
-- PostgreSQL; BYTEA is NUMERIC affinity in SQLite, which stores bound blobs unchanged;
-- times are BIGINT Unix nanoseconds in UTC (see the package doc).
--
-- Every table carries tenant_id, and every child refers to its parent by (tenant_id, id),
-- so a row can never point into another tenant.

-- +goose Up
CREATE TABLE tenants (
    id               TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    name             TEXT    NOT NULL UNIQUE CHECK (name <> ''),
    recipient        TEXT    NOT NULL,
    wrapped_identity BYTEA,
    created_at       BIGINT  NOT NULL
);

CREATE TABLE users (
    tenant_id            TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   TEXT    NOT NULL CHECK (id <> ''),
    email                TEXT    NOT NULL,
    -- email_key is the e-mail lower-cased in Go, so both databases fold case alike.
    email_key            TEXT    NOT NULL CHECK (email_key <> ''),
    password_hash        TEXT    NOT NULL,
    role                 TEXT    NOT NULL CHECK (role IN ('admin', 'creator', 'viewer')),
    must_change_password BOOLEAN NOT NULL,
    created_at           BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email_key)
);
CREATE INDEX users_email_key ON users (email_key);

CREATE TABLE tokens (
    tenant_id  TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT   NOT NULL CHECK (id <> ''),
    -- user_id is NULL for credentials that belong to no user (agents).
    user_id    TEXT,
    hash       BYTEA  NOT NULL UNIQUE,
    scope      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE sessions (
    hash       BYTEA  NOT NULL PRIMARY KEY,
    tenant_id  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

CREATE TABLE recordings (
    tenant_id    TEXT             NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT             NOT NULL CHECK (id <> ''),
    title        TEXT             NOT NULL,
    state        TEXT             NOT NULL,
    started_at   BIGINT           NOT NULL,
    created_at   BIGINT           NOT NULL,
    updated_at   BIGINT           NOT NULL,
    completed_at BIGINT,
    duration     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX recordings_newest ON recordings (tenant_id, started_at, created_at, id);

CREATE TABLE tracks (
    tenant_id    TEXT   NOT NULL,
    recording_id TEXT   NOT NULL,
    id           TEXT   NOT NULL CHECK (id <> ''),
    kind         TEXT   NOT NULL CHECK (kind IN ('camera', 'screen', 'audio')),
    codec        TEXT   NOT NULL,
    width        BIGINT NOT NULL,
    height       BIGINT NOT NULL,
    bandwidth    BIGINT NOT NULL,
    init_digest  TEXT   NOT NULL,
    init_key     TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, recording_id, id),
    FOREIGN KEY (tenant_id, recording_id) REFERENCES recordings (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE segments (
    tenant_id    TEXT             NOT NULL,
    recording_id TEXT             NOT NULL,
    track_id     TEXT             NOT NULL,
    seq          BIGINT           NOT NULL CHECK (seq >= 0),
    start_sec    DOUBLE PRECISION NOT NULL,
    duration_sec DOUBLE PRECISION NOT NULL,
    size         BIGINT           NOT NULL,
    digest       TEXT             NOT NULL,
    blob_key     TEXT             NOT NULL,
    created_at   BIGINT           NOT NULL,
    PRIMARY KEY (tenant_id, recording_id, track_id, seq),
    FOREIGN KEY (tenant_id, recording_id, track_id)
        REFERENCES tracks (tenant_id, recording_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE segments;
DROP TABLE tracks;
DROP TABLE recordings;
DROP TABLE sessions;
DROP TABLE tokens;
DROP TABLE users;
DROP TABLE tenants;
