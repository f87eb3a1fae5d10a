package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ssoVersion is the Go migration that puts the tables of migration 5 under row-level
// security on PostgreSQL.
const ssoVersion = 6

func init() {
	registerIsolation(ssoVersion, []string{"sso_configs"}, ssoTables...)
}

// ssoTables are the tables migration 5 adds; each carries tenant_id.
var ssoTables = []string{"sso_configs", "sso_identities", "sso_logins", "groups", "group_members"}

// SSOConfig is a tenant's OpenID Connect provider.
type SSOConfig struct {
	TenantID string
	// Issuer is the provider's issuer URL, exactly as its discovery document names it.
	Issuer   string
	ClientID string
	// SealedSecret is the client secret sealed to the tenant's age recipient.
	SealedSecret []byte
	// Scopes are requested at every sign-in; "openid" is always among them.
	Scopes []string
	// GroupClaim names the claim that lists the user's groups; empty for none.
	GroupClaim string
	// EmailDomain, if set, sends people whose address ends in @EmailDomain to this
	// tenant's provider from the sign-in page. Unique across tenants, lower case.
	EmailDomain string
	UpdatedAt   time.Time
}

const ssoConfigColumns = `tenant_id, issuer, client_id, client_secret, scopes, group_claim, email_domain, updated_at`

// PutSSOConfig stores the tenant's provider, replacing any before. An e-mail domain
// another tenant has answers ErrExists; an unknown tenant, ErrNotFound.
func (s *Store) PutSSOConfig(ctx context.Context, c SSOConfig) (SSOConfig, error) {
	c.EmailDomain = strings.ToLower(c.EmailDomain)
	switch {
	case c.Issuer == "" || c.ClientID == "":
		return SSOConfig{}, fmt.Errorf("sso config without issuer or client id: %w", ErrInvalid)
	case len(c.SealedSecret) == 0:
		return SSOConfig{}, fmt.Errorf("sso config without client secret: %w", ErrInvalid)
	}
	if err := checkTimes(c.UpdatedAt); err != nil {
		return SSOConfig{}, err
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = s.now()
	}
	c.UpdatedAt = roundTrip(c.UpdatedAt)
	if c.EmailDomain != "" {
		// The unique index would refuse it too, but under row-level security the other
		// tenant's row is invisible, so look first to give a clear error.
		if other, err := s.SSOConfigByDomain(ctx, c.EmailDomain); err == nil && other.TenantID != c.TenantID {
			return SSOConfig{}, fmt.Errorf("e-mail domain %q: %w", c.EmailDomain, ErrExists)
		}
	}
	err := s.write(ctx, c.TenantID, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO sso_configs (`+ssoConfigColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (tenant_id) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
			client_secret = excluded.client_secret, scopes = excluded.scopes, group_claim = excluded.group_claim,
			email_domain = excluded.email_domain, updated_at = excluded.updated_at`,
			c.TenantID, c.Issuer, c.ClientID, c.SealedSecret, strings.Join(c.Scopes, " "), c.GroupClaim, c.EmailDomain, nanos(c.UpdatedAt))
		switch {
		case isForeignKeyViolation(err):
			return fmt.Errorf("tenant %q: %w", c.TenantID, ErrNotFound)
		case isUniqueViolation(err):
			return fmt.Errorf("e-mail domain %q: %w", c.EmailDomain, ErrExists)
		case err != nil:
			return fmt.Errorf("put sso config: %w", err)
		}
		return nil
	})
	if err != nil {
		return SSOConfig{}, err
	}
	return c, nil
}

// SSOConfig returns the tenant's provider, or ErrNotFound when it has none.
func (s *Store) SSOConfig(ctx context.Context, tenantID string) (SSOConfig, error) {
	var c SSOConfig
	err := s.read(ctx, tenantID, func(q querier) error {
		var err error
		c, err = scanSSOConfig(q.QueryRowContext(ctx, `SELECT `+ssoConfigColumns+` FROM sso_configs WHERE tenant_id = $1`, tenantID))
		return notFound(err, "sso config of tenant %q", tenantID)
	})
	return c, err
}

// SSOConfigByDomain finds the provider whose e-mail domain is domain, ignoring case,
// across tenants.
func (s *Store) SSOConfigByDomain(ctx context.Context, domain string) (SSOConfig, error) {
	domain = strings.ToLower(domain)
	if domain == "" {
		return SSOConfig{}, fmt.Errorf("empty e-mail domain: %w", ErrNotFound)
	}
	var c SSOConfig
	err := s.lookup(ctx, func(q querier) error {
		var err error
		c, err = scanSSOConfig(q.QueryRowContext(ctx, `SELECT `+ssoConfigColumns+` FROM sso_configs WHERE email_domain = $1`, domain))
		return notFound(err, "sso for e-mail domain %q", domain)
	})
	return c, err
}

// DeleteSSOConfig removes the tenant's provider. Identities stay, so the same provider
// configured again finds its users again.
func (s *Store) DeleteSSOConfig(ctx context.Context, tenantID string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `DELETE FROM sso_configs WHERE tenant_id = $1`, tenantID))
		if err != nil {
			return fmt.Errorf("delete sso config: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("sso config of tenant %q: %w", tenantID, ErrNotFound)
		}
		return nil
	})
}

func scanSSOConfig(r scanner) (SSOConfig, error) {
	var (
		c       SSOConfig
		scopes  string
		updated int64
	)
	if err := r.Scan(&c.TenantID, &c.Issuer, &c.ClientID, &c.SealedSecret, &scopes, &c.GroupClaim, &c.EmailDomain, &updated); err != nil {
		return SSOConfig{}, err
	}
	c.Scopes, c.UpdatedAt = strings.Fields(scopes), fromNanos(updated)
	return c, nil
}

// SSOLogin is a sign-in sent to the provider and awaited back: what the callback must
// check and send with the code.
type SSOLogin struct {
	TenantID    string
	StateHash   []byte // a hash of the state parameter
	BrowserHash []byte // a hash of the secret in the browser's cookie
	Nonce       string
	Verifier    string // the PKCE code verifier
	RedirectURI string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// CreateSSOLogin stores l, and forgets the tenant's logins that expired before it began.
// When the tenant already has maxPending logins in flight (0 means no limit) it answers
// ErrConflict and stores nothing, so sign-ins begun and never finished cannot fill the
// table.
func (s *Store) CreateSSOLogin(ctx context.Context, l SSOLogin, maxPending int) error {
	switch {
	case len(l.StateHash) == 0 || len(l.BrowserHash) == 0 || l.Nonce == "" || l.Verifier == "":
		return fmt.Errorf("sso login without state, browser, nonce or verifier: %w", ErrInvalid)
	case l.ExpiresAt.IsZero():
		return fmt.Errorf("sso login without expiry: %w", ErrInvalid)
	}
	if err := checkTimes(l.CreatedAt, l.ExpiresAt); err != nil {
		return err
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = s.now()
	}
	return s.write(ctx, l.TenantID, func(q querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM sso_logins WHERE tenant_id = $1 AND expires_at < $2`,
			l.TenantID, nanos(l.CreatedAt)); err != nil {
			return fmt.Errorf("forget expired sso logins: %w", err)
		}
		if maxPending > 0 {
			var pending int
			if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sso_logins WHERE tenant_id = $1`, l.TenantID).Scan(&pending); err != nil {
				return fmt.Errorf("count sso logins: %w", err)
			}
			if pending >= maxPending {
				return fmt.Errorf("%d sso logins in flight: %w", pending, ErrConflict)
			}
		}
		n, err := rowsAffected(q.ExecContext(ctx, `INSERT INTO sso_logins (tenant_id, state_hash, browser_hash, nonce,
			verifier, redirect_uri, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			l.TenantID, l.StateHash, l.BrowserHash, l.Nonce, l.Verifier, l.RedirectURI, nanos(l.CreatedAt), nanos(l.ExpiresAt)))
		switch {
		case isForeignKeyViolation(err):
			return fmt.Errorf("tenant %q: %w", l.TenantID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("create sso login: %w", err)
		case n == 0:
			return fmt.Errorf("sso login: %w", ErrExists)
		}
		return nil
	})
}

// TakeSSOLogin returns the tenant's login of stateHash and deletes it in the same
// statement, so two callbacks racing with one state cannot both have it: the second,
// like any replay, answers ErrNotFound. An expired login answers ErrNotFound as well.
func (s *Store) TakeSSOLogin(ctx context.Context, tenantID string, stateHash []byte) (SSOLogin, error) {
	var l SSOLogin
	err := s.write(ctx, tenantID, func(q querier) error {
		var created, expires int64
		err := q.QueryRowContext(ctx, `DELETE FROM sso_logins WHERE tenant_id = $1 AND state_hash = $2
			RETURNING tenant_id, state_hash, browser_hash, nonce, verifier, redirect_uri, created_at, expires_at`,
			tenantID, stateHash).Scan(&l.TenantID, &l.StateHash, &l.BrowserHash, &l.Nonce, &l.Verifier, &l.RedirectURI, &created, &expires)
		if err != nil {
			return notFound(err, "sso login")
		}
		l.CreatedAt, l.ExpiresAt = fromNanos(created), fromNanos(expires)
		return nil
	})
	if err != nil {
		return SSOLogin{}, err
	}
	if !s.now().Before(l.ExpiresAt) {
		return SSOLogin{}, fmt.Errorf("sso login expired at %s: %w", l.ExpiresAt.Format(time.RFC3339), ErrNotFound)
	}
	return l, nil
}

// SSOIdentity links an account at a provider, (Issuer, Subject), to a user.
type SSOIdentity struct {
	TenantID   string
	Issuer     string
	Subject    string
	UserID     string
	CreatedAt  time.Time
	LastSignIn time.Time
}

// UserBySSOIdentity returns the tenant's user linked to (issuer, subject), or ErrNotFound.
func (s *Store) UserBySSOIdentity(ctx context.Context, tenantID, issuer, subject string) (User, error) {
	var u User
	err := s.read(ctx, tenantID, func(q querier) error {
		var err error
		u, err = scanUser(q.QueryRowContext(ctx, `SELECT `+prefixed("u.", userSelect)+` FROM sso_identities i
			JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id
			WHERE i.tenant_id = $1 AND i.issuer = $2 AND i.subject = $3`, tenantID, issuer, subject))
		return notFound(err, "sso identity %q at %q", subject, issuer)
	})
	return u, err
}

// prefixed qualifies each column of a comma-separated list with prefix; expressions
// such as "totp_seed IS NOT NULL" get it on their first word.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// LinkSSOIdentity links (issuer, subject) to an existing user: an administrator's
// deliberate choice, never made from a matching e-mail address. A subject already
// linked, or a user already linked at that issuer, answers ErrExists.
func (s *Store) LinkSSOIdentity(ctx context.Context, id SSOIdentity) (SSOIdentity, error) {
	if id.Issuer == "" || id.Subject == "" || id.UserID == "" {
		return SSOIdentity{}, fmt.Errorf("sso identity without issuer, subject or user: %w", ErrInvalid)
	}
	if err := checkTimes(id.CreatedAt, id.LastSignIn); err != nil {
		return SSOIdentity{}, err
	}
	if id.CreatedAt.IsZero() {
		id.CreatedAt = s.now()
	}
	id.CreatedAt = roundTrip(id.CreatedAt)
	if id.LastSignIn.IsZero() {
		id.LastSignIn = id.CreatedAt
	}
	id.LastSignIn = roundTrip(id.LastSignIn)
	err := s.write(ctx, id.TenantID, func(q querier) error { return insertIdentity(ctx, q, id) })
	if err != nil {
		return SSOIdentity{}, err
	}
	return id, nil
}

func insertIdentity(ctx context.Context, q querier, id SSOIdentity) error {
	n, err := rowsAffected(q.ExecContext(ctx, `INSERT INTO sso_identities (tenant_id, issuer, subject, user_id, created_at, last_sign_in)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		id.TenantID, id.Issuer, id.Subject, id.UserID, nanos(id.CreatedAt), nanos(id.LastSignIn)))
	switch {
	case isForeignKeyViolation(err):
		return fmt.Errorf("user %q: %w", id.UserID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("link sso identity: %w", err)
	case n == 0:
		return fmt.Errorf("sso identity %q at %q or its user: %w", id.Subject, id.Issuer, ErrExists)
	}
	return nil
}

// ProvisionSSOUser creates u (without a password) and links (issuer, subject) to it in
// one transaction: just-in-time provisioning at a first sign-in. An e-mail address the
// tenant already has answers ErrExists and creates nothing: accounts are never joined
// by e-mail.
func (s *Store) ProvisionSSOUser(ctx context.Context, u User, issuer, subject string) (User, error) {
	if issuer == "" || subject == "" {
		return User{}, fmt.Errorf("sso identity without issuer or subject: %w", ErrInvalid)
	}
	u.PasswordHash, u.MustChangePassword = "", false
	var made User
	err := s.write(ctx, u.TenantID, func(q querier) error {
		var err error
		made, err = s.insertUser(ctx, q, u)
		if err != nil {
			return err
		}
		return insertIdentity(ctx, q, SSOIdentity{TenantID: made.TenantID, Issuer: issuer, Subject: subject, UserID: made.ID,
			CreatedAt: made.CreatedAt, LastSignIn: made.CreatedAt})
	})
	if err != nil {
		return User{}, err
	}
	return made, nil
}

// insertUser is CreateUser inside a transaction the caller holds.
func (s *Store) insertUser(ctx context.Context, q querier, u User) (User, error) {
	switch {
	case u.Email == "":
		return User{}, fmt.Errorf("user e-mail empty: %w", ErrInvalid)
	case u.Role != RoleAdmin && u.Role != RoleCreator && u.Role != RoleViewer:
		return User{}, fmt.Errorf("user role %q: %w", u.Role, ErrInvalid)
	}
	if err := checkTimes(u.CreatedAt); err != nil {
		return User{}, err
	}
	if u.ID == "" {
		id, err := newID()
		if err != nil {
			return User{}, err
		}
		u.ID = id
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.now()
	}
	u.CreatedAt = roundTrip(u.CreatedAt)
	if u.PasswordChangedAt.IsZero() {
		u.PasswordChangedAt = u.CreatedAt
	}
	u.PasswordChangedAt = roundTrip(u.PasswordChangedAt)
	u.LockedAt, u.HasTOTP = nil, false
	n, err := rowsAffected(q.ExecContext(ctx, `
		INSERT INTO users (`+userColumns+`, email_key, password_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT DO NOTHING`,
		u.TenantID, u.ID, u.Email, u.PasswordHash, u.Role, u.MustChangePassword,
		nanos(u.CreatedAt), emailKey(u.Email), nanos(u.PasswordChangedAt)))
	switch {
	case isForeignKeyViolation(err):
		return User{}, fmt.Errorf("tenant %q: %w", u.TenantID, ErrNotFound)
	case err != nil:
		return User{}, fmt.Errorf("create user: %w", err)
	case n == 0:
		return User{}, fmt.Errorf("user %q: %w", u.Email, ErrExists)
	}
	return u, nil
}

// TouchSSOIdentity records a sign-in through (issuer, subject) at at.
func (s *Store) TouchSSOIdentity(ctx context.Context, tenantID, issuer, subject string, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `UPDATE sso_identities SET last_sign_in = $4
			WHERE tenant_id = $1 AND issuer = $2 AND subject = $3`, tenantID, issuer, subject, nanos(at)))
		if err != nil {
			return fmt.Errorf("touch sso identity: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("sso identity %q at %q: %w", subject, issuer, ErrNotFound)
		}
		return nil
	})
}

// UserSSOIdentities returns the identities linked to the user, oldest first.
func (s *Store) UserSSOIdentities(ctx context.Context, tenantID, userID string) ([]SSOIdentity, error) {
	var out []SSOIdentity
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT tenant_id, issuer, subject, user_id, created_at, last_sign_in
			FROM sso_identities WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, issuer`, tenantID, userID)
		if err != nil {
			return fmt.Errorf("sso identities: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id SSOIdentity
			var created, last int64
			if err := rows.Scan(&id.TenantID, &id.Issuer, &id.Subject, &id.UserID, &created, &last); err != nil {
				return fmt.Errorf("sso identities: %w", err)
			}
			id.CreatedAt, id.LastSignIn = fromNanos(created), fromNanos(last)
			out = append(out, id)
		}
		return rows.Err()
	})
	return out, err
}

// isUniqueViolation reports whether err is a duplicate in a unique index.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var le *sqlite.Error
	if errors.As(err, &le) {
		return le.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || le.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	return false
}
