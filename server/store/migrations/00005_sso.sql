-- Single sign-on with OpenID Connect (issue 5): each tenant's provider, the identities
-- that link provider accounts to users by (issuer, subject), the sign-ins in flight
-- (state, nonce and PKCE verifier, each used once), and groups with their members,
-- which the provider's group claim fills. Version 6 is the Go migration that puts these
-- tables under PostgreSQL's row-level security.

-- +goose Up
CREATE TABLE sso_configs (
    tenant_id     TEXT   NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    issuer        TEXT   NOT NULL CHECK (issuer <> ''),
    client_id     TEXT   NOT NULL CHECK (client_id <> ''),
    -- client_secret is sealed to the tenant's age recipient, as TOTP seeds are.
    client_secret BYTEA  NOT NULL,
    -- scopes are separated by single spaces, "openid" among them.
    scopes        TEXT   NOT NULL,
    group_claim   TEXT   NOT NULL,
    -- email_domain, lower case, picks the tenant on the sign-in page; '' for none.
    email_domain  TEXT   NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX sso_configs_domain ON sso_configs (email_domain) WHERE email_domain <> '';

CREATE TABLE sso_identities (
    tenant_id     TEXT   NOT NULL,
    issuer        TEXT   NOT NULL CHECK (issuer <> ''),
    subject       TEXT   NOT NULL CHECK (subject <> ''),
    user_id       TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_sign_in  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, issuer, subject),
    UNIQUE (tenant_id, user_id, issuer),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- sso_logins are sign-ins sent to the provider and not yet back. A row is deleted when
-- its state comes back, so each state, nonce and verifier is used once.
CREATE TABLE sso_logins (
    tenant_id    TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    state_hash   BYTEA  NOT NULL,
    -- browser_hash is the hash of the secret in the browser's __Host-aula-sso cookie.
    browser_hash BYTEA  NOT NULL,
    nonce        TEXT   NOT NULL,
    verifier     TEXT   NOT NULL,
    redirect_uri TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, state_hash)
);
CREATE INDEX sso_logins_expiry ON sso_logins (tenant_id, expires_at);

-- source is 'local' for groups an administrator made, 'sso' for groups the provider's
-- claim names; sign-in changes only the members of 'sso' groups.
CREATE TABLE groups (
    tenant_id  TEXT   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT   NOT NULL CHECK (id <> ''),
    name       TEXT   NOT NULL CHECK (name <> ''),
    source     TEXT   NOT NULL CHECK (source IN ('local', 'sso')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, source, name)
);

CREATE TABLE group_members (
    tenant_id  TEXT   NOT NULL,
    group_id   TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members (tenant_id, user_id);

-- +goose Down
DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE sso_logins;
DROP TABLE sso_identities;
DROP TABLE sso_configs;
