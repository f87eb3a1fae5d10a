-- Schedules and agent states (issue 6, DESIGN "Agent ↔ server API"): what each room is to
-- record, into which folder and when, and the last state each room's agent reported.
-- Version 18 (Go) adds row-level security on PostgreSQL.

-- +goose Up
-- schedule_entries are recordings planned in a room, into a folder the room is bound to
-- (or one below it). Times are Unix nanoseconds; entries of one room do not overlap.
CREATE TABLE schedule_entries (
    tenant_id  TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT   NOT NULL CHECK (id <> ''),
    folder_id  TEXT   NOT NULL,
    room       TEXT   NOT NULL CHECK (room <> ''),
    title      TEXT   NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, folder_id) REFERENCES folders (tenant_id, id) ON DELETE CASCADE,
    CHECK (ends_at > starts_at)
);
CREATE INDEX schedule_entries_room ON schedule_entries (tenant_id, room, starts_at);
CREATE INDEX schedule_entries_folder ON schedule_entries (tenant_id, folder_id, starts_at);

-- agent_states holds one row per agent: the last state it reported, replaced by each
-- report. recording_id is '' when it records nothing; audio_level is dBFS, NULL if
-- unknown.
CREATE TABLE agent_states (
    tenant_id      TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id      TEXT   NOT NULL,
    state          TEXT   NOT NULL CHECK (state IN ('idle', 'capturing', 'uploading', 'error')),
    recording_id   TEXT   NOT NULL,
    queue_segments BIGINT NOT NULL CHECK (queue_segments >= 0),
    queue_bytes    BIGINT NOT NULL CHECK (queue_bytes >= 0),
    free_bytes     BIGINT NOT NULL CHECK (free_bytes >= 0),
    audio_level    DOUBLE PRECISION,
    last_error     TEXT   NOT NULL,
    reported_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES oauth_clients (tenant_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE agent_states;
DROP TABLE schedule_entries;
