package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Token is an API token or agent credential, kept only as a hash of its secret.
type Token struct {
	ID        string
	TenantID  string
	UserID    string // empty for a credential that belongs to no user, such as an agent's
	Hash      []byte // a hash of the secret; unique across tenants
	Scope     string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
	// ClientID is the OAuth client the token was issued to (an agent's, or the desktop
	// recorder's); empty for tokens made with "aula-server token create".
	ClientID string
}

const tokenColumns = `tenant_id, id, user_id, hash, scope, created_at, expires_at, revoked_at`

// CreateToken stores t and returns it as stored. An empty ID gets a new UUIDv7 and a zero
// CreatedAt the current time; Hash and ExpiresAt are required. A hash or ID already
// stored answers ErrExists; an unknown tenant or user, ErrNotFound.
func (s *Store) CreateToken(ctx context.Context, t Token) (Token, error) {
	switch {
	case len(t.Hash) == 0:
		return Token{}, fmt.Errorf("token hash empty: %w", ErrInvalid)
	case t.ExpiresAt.IsZero():
		return Token{}, fmt.Errorf("token without expiry: %w", ErrInvalid)
	}
	if err := checkTimes(t.CreatedAt, t.ExpiresAt); err != nil {
		return Token{}, err
	}
	if t.RevokedAt != nil {
		if err := checkTimes(*t.RevokedAt); err != nil {
			return Token{}, err
		}
		r := roundTrip(*t.RevokedAt)
		t.RevokedAt = &r
	}
	if t.ID == "" {
		id, err := newID()
		if err != nil {
			return Token{}, err
		}
		t.ID = id
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.CreatedAt, t.ExpiresAt = roundTrip(t.CreatedAt), roundTrip(t.ExpiresAt)
	user := sql.NullString{String: t.UserID, Valid: t.UserID != ""}
	err := s.write(ctx, t.TenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `
			INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT DO NOTHING`,
			t.TenantID, t.ID, user, t.Hash, t.Scope, nanos(t.CreatedAt), nanos(t.ExpiresAt),
			nullNanos(t.RevokedAt)))
		switch {
		case isForeignKeyViolation(err):
			return fmt.Errorf("tenant %q or user %q: %w", t.TenantID, t.UserID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("create token: %w", err)
		case n == 0:
			return fmt.Errorf("token %q: %w", t.ID, ErrExists)
		}
		return nil
	})
	if err != nil {
		return Token{}, err
	}
	return t, nil
}

// TokenByHash finds the token with this hash in any tenant. It does not check expiry or
// revocation: the caller does, with its own clock.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	var t Token
	err := s.lookup(ctx, func(q querier) error {
		var (
			user, client     sql.NullString
			created, expires int64
			revoked          sql.NullInt64
		)
		err := q.QueryRowContext(ctx, `SELECT `+tokenColumns+`, client_id FROM tokens WHERE hash = $1`, hash).
			Scan(&t.TenantID, &t.ID, &user, &t.Hash, &t.Scope, &created, &expires, &revoked, &client)
		if err != nil {
			return notFound(err, "token")
		}
		t.UserID, t.ClientID = user.String, client.String
		t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromNanos(created), fromNanos(expires), fromNullNanos(revoked)
		return nil
	})
	if err != nil {
		return Token{}, err
	}
	return t, nil
}

// RevokeToken marks the tenant's token revoked now. Revoking it again keeps the first
// revocation time.
func (s *Store) RevokeToken(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `
			UPDATE tokens SET revoked_at = COALESCE(revoked_at, $3)
			WHERE tenant_id = $1 AND id = $2`, tenantID, id, nanos(s.now())))
		if err != nil {
			return fmt.Errorf("revoke token %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("token %q: %w", id, ErrNotFound)
		}
		return nil
	})
}
