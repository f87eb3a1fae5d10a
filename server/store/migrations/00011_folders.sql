-- Folders, grants and room bindings (issue 6, SECURITY §10 and §13). Every tenant has one
-- root folder whose ID is the tenant's ID; recordings belong to folders. A grant gives a
-- user or a group a role on a folder and everything below it. A room's agents may create
-- recordings only in the folders the room is bound to. Version 12 (Go) adds row-level
-- security on PostgreSQL.

-- +goose Up
CREATE TABLE folders (
    tenant_id  TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT   NOT NULL CHECK (id <> ''),
    -- parent_id is NULL for the root folder only.
    parent_id  TEXT,
    name       TEXT   NOT NULL CHECK (name <> ''),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES folders (tenant_id, id)
);
CREATE UNIQUE INDEX folders_root ON folders (tenant_id) WHERE parent_id IS NULL;
CREATE UNIQUE INDEX folders_name ON folders (tenant_id, parent_id, name);

INSERT INTO folders (tenant_id, id, parent_id, name, created_at)
    SELECT id, id, NULL, name, created_at FROM tenants;

-- grants: exactly one of user_id and group_id is set.
CREATE TABLE grants (
    tenant_id  TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT   NOT NULL CHECK (id <> ''),
    folder_id  TEXT   NOT NULL,
    user_id    TEXT,
    group_id   TEXT,
    role       TEXT   NOT NULL CHECK (role IN ('viewer', 'creator', 'publisher', 'scheduler', 'manager', 'admin')),
    created_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, folder_id) REFERENCES folders (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX grants_user ON grants (tenant_id, folder_id, user_id, role) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX grants_group ON grants (tenant_id, folder_id, group_id, role) WHERE group_id IS NOT NULL;
CREATE INDEX grants_by_user ON grants (tenant_id, user_id);
CREATE INDEX grants_by_group ON grants (tenant_id, group_id);

-- Until now an account's role applied to the whole tenant: creators and viewers keep it
-- as a grant on the root folder (administrators are the tenant's administrators anyway).
INSERT INTO grants (tenant_id, id, folder_id, user_id, group_id, role, created_at, created_by)
    SELECT tenant_id, 'migrated-' || id, tenant_id, id, NULL, role, created_at, 'migration'
    FROM users WHERE role IN ('creator', 'viewer');

-- room_folders binds a room (its enrolled agents) to the folders it may record into.
CREATE TABLE room_folders (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    room      TEXT NOT NULL CHECK (room <> ''),
    folder_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, room, folder_id),
    FOREIGN KEY (tenant_id, folder_id) REFERENCES folders (tenant_id, id) ON DELETE CASCADE
);

-- Recordings belong to a folder (the root, for those made before folders) and remember
-- who created them ("user:ID" or "agent:CLIENT"), so an agent touches only its own.
ALTER TABLE recordings ADD COLUMN folder_id TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN published_at BIGINT;
UPDATE recordings SET folder_id = tenant_id;
CREATE INDEX recordings_folder ON recordings (tenant_id, folder_id);

-- +goose Down
DROP INDEX recordings_folder;
ALTER TABLE recordings DROP COLUMN published_at;
ALTER TABLE recordings DROP COLUMN created_by;
ALTER TABLE recordings DROP COLUMN folder_id;
DROP TABLE room_folders;
DROP TABLE grants;
DROP TABLE folders;
