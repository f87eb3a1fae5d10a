package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// webauthnVersion is the Go migration that puts the tables of migration 9 under
// row-level security on PostgreSQL.
const webauthnVersion = 10

func init() {
	registerIsolation(webauthnVersion, nil, webauthnTables...)
}

// webauthnTables are the tables migration 9 adds; each carries tenant_id and is read and
// written only as its tenant.
var webauthnTables = []string{"webauthn_credentials", "webauthn_challenges"}

// WebAuthnCredential is a user's security key or passkey.
type WebAuthnCredential struct {
	TenantID string
	UserID   string
	// ID names the credential on the pages; AddWebAuthnCredential makes one when empty.
	ID string
	// CredentialID is the authenticator's ID of the credential, unique across tenants.
	CredentialID []byte
	RPID         string // the relying party ID it was registered for
	PublicKey    []byte // COSE
	SignCount    uint32
	Transports   []string
	Name         string
	// Record is go-webauthn's Credential as JSON, for the flags and attestation.
	Record     []byte
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

const webauthnColumns = `tenant_id, user_id, id, credential_id, rp_id, public_key, sign_count, transports, name, record,
	created_at, last_used_at`

func scanWebAuthnCredential(r scanner) (WebAuthnCredential, error) {
	var c WebAuthnCredential
	var count, created int64
	var used sql.NullInt64
	var transports string
	err := r.Scan(&c.TenantID, &c.UserID, &c.ID, &c.CredentialID, &c.RPID, &c.PublicKey, &count, &transports, &c.Name,
		&c.Record, &created, &used)
	if err != nil {
		return WebAuthnCredential{}, err
	}
	c.SignCount = uint32(count)
	if transports != "" {
		c.Transports = strings.Split(transports, ",")
	}
	c.CreatedAt = fromNanos(created)
	if used.Valid {
		t := fromNanos(used.Int64)
		c.LastUsedAt = &t
	}
	return c, nil
}

// AddWebAuthnCredential stores c. A credential ID already stored (for anyone) answers
// ErrExists; an unknown user, ErrNotFound.
func (s *Store) AddWebAuthnCredential(ctx context.Context, c WebAuthnCredential) (WebAuthnCredential, error) {
	switch {
	case len(c.CredentialID) == 0 || len(c.PublicKey) == 0 || c.UserID == "" || c.RPID == "":
		return WebAuthnCredential{}, fmt.Errorf("webauthn credential without id, key, user or rp: %w", ErrInvalid)
	case len(c.CredentialID) > 1023 || len(c.Name) > 200:
		return WebAuthnCredential{}, fmt.Errorf("webauthn credential id or name too long: %w", ErrInvalid)
	}
	for _, t := range c.Transports {
		if t == "" || strings.Contains(t, ",") {
			return WebAuthnCredential{}, fmt.Errorf("webauthn transport %q: %w", t, ErrInvalid)
		}
	}
	if err := checkTimes(c.CreatedAt); err != nil {
		return WebAuthnCredential{}, err
	}
	if c.ID == "" {
		id, err := newID()
		if err != nil {
			return WebAuthnCredential{}, err
		}
		c.ID = id
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	c.CreatedAt = roundTrip(c.CreatedAt)
	if c.Record == nil {
		c.Record = []byte{}
	}
	err := s.write(ctx, c.TenantID, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO webauthn_credentials (`+webauthnColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)`, c.TenantID, c.UserID, c.ID, c.CredentialID, c.RPID,
			c.PublicKey, int64(c.SignCount), strings.Join(c.Transports, ","), c.Name, c.Record, nanos(c.CreatedAt))
		switch {
		case isForeignKeyViolation(err):
			return fmt.Errorf("user %q: %w", c.UserID, ErrNotFound)
		case isUniqueViolation(err):
			return fmt.Errorf("webauthn credential: %w", ErrExists)
		case err != nil:
			return fmt.Errorf("add webauthn credential: %w", err)
		}
		return nil
	})
	if err != nil {
		return WebAuthnCredential{}, err
	}
	c.LastUsedAt = nil
	return c, nil
}

// WebAuthnCredentials returns the user's credentials, oldest first.
func (s *Store) WebAuthnCredentials(ctx context.Context, tenantID, userID string) ([]WebAuthnCredential, error) {
	var out []WebAuthnCredential
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+webauthnColumns+` FROM webauthn_credentials
			WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id`, tenantID, userID)
		if err != nil {
			return fmt.Errorf("webauthn credentials: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanWebAuthnCredential(rows)
			if err != nil {
				return fmt.Errorf("webauthn credentials: %w", err)
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// CountWebAuthnCredentials counts the user's credentials.
func (s *Store) CountWebAuthnCredentials(ctx context.Context, tenantID, userID string) (int, error) {
	var n int
	err := s.read(ctx, tenantID, func(q querier) error {
		return q.QueryRowContext(ctx, `SELECT count(*) FROM webauthn_credentials WHERE tenant_id = $1 AND user_id = $2`,
			tenantID, userID).Scan(&n)
	})
	return n, err
}

// DeleteWebAuthnCredential removes the user's credential id; another's, or none,
// answers ErrNotFound.
func (s *Store) DeleteWebAuthnCredential(ctx context.Context, tenantID, userID, id string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `DELETE FROM webauthn_credentials
			WHERE tenant_id = $1 AND user_id = $2 AND id = $3`, tenantID, userID, id))
		if err != nil {
			return fmt.Errorf("delete webauthn credential: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("webauthn credential %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// DeleteUserWebAuthnCredentials removes all the user's credentials (an administrator's
// reset of lost authenticators) and answers how many there were.
func (s *Store) DeleteUserWebAuthnCredentials(ctx context.Context, tenantID, userID string) (int, error) {
	var n int64
	err := s.write(ctx, tenantID, func(q querier) error {
		var err error
		n, err = rowsAffected(q.ExecContext(ctx, `DELETE FROM webauthn_credentials WHERE tenant_id = $1 AND user_id = $2`,
			tenantID, userID))
		return err
	})
	return int(n), err
}

// UseWebAuthnCredential records a sign-in with the user's credential id at at, with the
// authenticator's new signature count. A count that does not rise above the stored one
// (unless both are zero: authenticators without a counter) answers ErrConflict,
// atomically, so a cloned authenticator cannot pass even when it races the original.
func (s *Store) UseWebAuthnCredential(ctx context.Context, tenantID, userID, id string, signCount uint32, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `UPDATE webauthn_credentials SET sign_count = $4, last_used_at = $5
			WHERE tenant_id = $1 AND user_id = $2 AND id = $3 AND (sign_count < $4 OR (sign_count = 0 AND $4 = 0))`,
			tenantID, userID, id, int64(signCount), nanos(at)))
		if err != nil {
			return fmt.Errorf("use webauthn credential: %w", err)
		}
		if n == 1 {
			return nil
		}
		var stored int64
		err = q.QueryRowContext(ctx, `SELECT sign_count FROM webauthn_credentials WHERE tenant_id = $1 AND user_id = $2 AND id = $3`,
			tenantID, userID, id).Scan(&stored)
		if err != nil {
			return notFound(err, "webauthn credential %q", id)
		}
		return fmt.Errorf("signature count %d not above %d: %w", signCount, stored, ErrConflict)
	})
}

// WebAuthnChallenge is a ceremony in flight: go-webauthn's SessionData as Data, bound
// to the session (by its ID) and user that began it.
type WebAuthnChallenge struct {
	TenantID  string
	SessionID string
	Kind      string // "register" or "login"
	UserID    string
	Data      []byte
	ExpiresAt time.Time
}

// PutWebAuthnChallenge stores c, replacing the session's challenge of the same kind,
// and forgets the tenant's expired challenges.
func (s *Store) PutWebAuthnChallenge(ctx context.Context, c WebAuthnChallenge) error {
	switch {
	case c.SessionID == "" || c.UserID == "" || len(c.Data) == 0 || c.ExpiresAt.IsZero():
		return fmt.Errorf("webauthn challenge without session, user, data or expiry: %w", ErrInvalid)
	case c.Kind != "register" && c.Kind != "login":
		return fmt.Errorf("webauthn challenge kind %q: %w", c.Kind, ErrInvalid)
	}
	if err := checkTimes(c.ExpiresAt); err != nil {
		return err
	}
	return s.write(ctx, c.TenantID, func(q querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM webauthn_challenges WHERE tenant_id = $1 AND expires_at < $2`,
			c.TenantID, nanos(s.now())); err != nil {
			return fmt.Errorf("forget expired webauthn challenges: %w", err)
		}
		_, err := q.ExecContext(ctx, `INSERT INTO webauthn_challenges (tenant_id, session_id, kind, user_id, data, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant_id, session_id, kind) DO UPDATE SET user_id = excluded.user_id, data = excluded.data,
				expires_at = excluded.expires_at`, c.TenantID, c.SessionID, c.Kind, c.UserID, c.Data, nanos(c.ExpiresAt))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("user %q: %w", c.UserID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("put webauthn challenge: %w", err)
		}
		return nil
	})
}

// TakeWebAuthnChallenge returns the session's challenge of kind and deletes it in the
// same statement, so it is used once: a second take, like an expired challenge,
// answers ErrNotFound.
func (s *Store) TakeWebAuthnChallenge(ctx context.Context, tenantID, sessionID, kind string) (WebAuthnChallenge, error) {
	var c WebAuthnChallenge
	err := s.write(ctx, tenantID, func(q querier) error {
		var expires int64
		err := q.QueryRowContext(ctx, `DELETE FROM webauthn_challenges WHERE tenant_id = $1 AND session_id = $2 AND kind = $3
			RETURNING tenant_id, session_id, kind, user_id, data, expires_at`, tenantID, sessionID, kind).Scan(
			&c.TenantID, &c.SessionID, &c.Kind, &c.UserID, &c.Data, &expires)
		if err != nil {
			return notFound(err, "webauthn challenge")
		}
		c.ExpiresAt = fromNanos(expires)
		return nil
	})
	if err != nil {
		return WebAuthnChallenge{}, err
	}
	if !s.now().Before(c.ExpiresAt) {
		return WebAuthnChallenge{}, fmt.Errorf("webauthn challenge expired at %s: %w", c.ExpiresAt.Format(time.RFC3339), ErrNotFound)
	}
	return c, nil
}

// WebAuthnCounts returns how many WebAuthn credentials each of the tenant's users has,
// by user ID; users without any are absent.
func (s *Store) WebAuthnCounts(ctx context.Context, tenantID string) (map[string]int, error) {
	out := map[string]int{}
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT user_id, count(*) FROM webauthn_credentials WHERE tenant_id = $1
			GROUP BY user_id`, tenantID)
		if err != nil {
			return fmt.Errorf("webauthn counts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			out[id] = n
		}
		return rows.Err()
	})
	return out, err
}
