-- A tamper-evident audit log (issue 6, SECURITY §20): each tenant's audit events form a
-- hash chain. seq numbers a tenant's events from 1 without gaps; mac is an HMAC-SHA256
-- over the previous event's mac and this event's fields, made with a key derived from
-- the master key, which the database never sees. audit_heads holds each tenant's last
-- seq and mac: appending locks that row, so concurrent writers (and several servers on
-- one PostgreSQL) extend the chain one at a time, and a removed last event is detected.
-- Events from before this migration keep seq 0 until the tenant's next append chains
-- them. Version 14 (Go) puts audit_heads under row-level security on PostgreSQL.

-- +goose Up
ALTER TABLE audit_events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN object TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN result TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN mac BYTEA;
-- Unique among chained events; events from before the chain share seq 0 until chained.
CREATE UNIQUE INDEX audit_events_seq ON audit_events (tenant_id, seq) WHERE seq > 0;
-- The order of searches (newest first) and of verification, legacy events included.
CREATE INDEX audit_events_order ON audit_events (tenant_id, seq, at);

CREATE TABLE audit_heads (
    tenant_id TEXT   NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL CHECK (seq >= 0),
    mac       BYTEA  NOT NULL
);

-- +goose Down
DROP TABLE audit_heads;
DROP INDEX audit_events_order;
DROP INDEX audit_events_seq;
ALTER TABLE audit_events DROP COLUMN mac;
ALTER TABLE audit_events DROP COLUMN result;
ALTER TABLE audit_events DROP COLUMN object;
ALTER TABLE audit_events DROP COLUMN request_id;
ALTER TABLE audit_events DROP COLUMN seq;
