-- The logical firewall (issue 6): each tenant's allowed address ranges and country
-- rules, and the users excepted from them. Version 16 (Go) adds row-level security on
-- PostgreSQL.

-- +goose Up
-- firewall_rules holds one row per tenant that ever set rules. ranges is the allowed
-- CIDR ranges, one per line; countries the ISO 3166-1 alpha-2 codes, comma-separated,
-- that country_mode allows or denies ('' = no country rule).
CREATE TABLE firewall_rules (
    tenant_id    TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    enabled      BOOLEAN NOT NULL,
    ranges       TEXT    NOT NULL,
    country_mode TEXT    NOT NULL CHECK (country_mode IN ('', 'allow', 'deny')),
    countries    TEXT    NOT NULL,
    updated_at   BIGINT  NOT NULL,
    updated_by   TEXT    NOT NULL
);

-- firewall_exceptions let a user in from anywhere, or from ranges of their own
-- (one per line) on top of the tenant's.
CREATE TABLE firewall_exceptions (
    tenant_id TEXT    NOT NULL,
    user_id   TEXT    NOT NULL,
    anywhere  BOOLEAN NOT NULL,
    ranges    TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE firewall_exceptions;
DROP TABLE firewall_rules;
