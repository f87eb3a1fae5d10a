package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Enrollment is a one-time code an administrator makes for a room, kept only as a hash.
type Enrollment struct {
	TenantID  string
	ID        string
	Room      string
	CodeHash  []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	ClientID  string // the agent credential the code was traded for, once used
}

// CreateEnrollment stores e and returns it as stored. An empty ID gets a new UUIDv7 and a
// zero CreatedAt the current time; Room, CodeHash and ExpiresAt are required.
func (s *Store) CreateEnrollment(ctx context.Context, e Enrollment) (Enrollment, error) {
	switch {
	case e.Room == "":
		return Enrollment{}, fmt.Errorf("enrollment without room: %w", ErrInvalid)
	case len(e.CodeHash) == 0:
		return Enrollment{}, fmt.Errorf("enrollment code hash empty: %w", ErrInvalid)
	case e.ExpiresAt.IsZero():
		return Enrollment{}, fmt.Errorf("enrollment without expiry: %w", ErrInvalid)
	}
	if err := checkTimes(e.CreatedAt, e.ExpiresAt); err != nil {
		return Enrollment{}, err
	}
	if e.ID == "" {
		id, err := newID()
		if err != nil {
			return Enrollment{}, err
		}
		e.ID = id
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	e.CreatedAt, e.ExpiresAt, e.UsedAt, e.ClientID = roundTrip(e.CreatedAt), roundTrip(e.ExpiresAt), nil, ""
	err := s.write(ctx, e.TenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `
			INSERT INTO oauth_enrollments (tenant_id, id, room, code_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			e.TenantID, e.ID, e.Room, e.CodeHash, nanos(e.CreatedAt), nanos(e.ExpiresAt)))
		switch {
		case isForeignKeyViolation(err):
			return fmt.Errorf("tenant %q: %w", e.TenantID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("create enrollment: %w", err)
		case n == 0:
			return fmt.Errorf("enrollment %q: %w", e.ID, ErrExists)
		}
		return nil
	})
	if err != nil {
		return Enrollment{}, err
	}
	return e, nil
}

// RedeemEnrollment trades the enrollment code with codeHash for a new agent credential
// whose secret has secretHash, at at, in one transaction: the code is marked used and the
// client stored, or neither. An unknown code answers ErrNotFound, a used one ErrUsed and
// an expired one ErrExpired.
func (s *Store) RedeemEnrollment(ctx context.Context, codeHash, secretHash []byte, at time.Time) (OAuthClient, error) {
	if len(codeHash) == 0 || len(secretHash) == 0 {
		return OAuthClient{}, fmt.Errorf("redeem enrollment: empty hash: %w", ErrInvalid)
	}
	if err := checkTimes(at); err != nil {
		return OAuthClient{}, err
	}
	id, err := newID()
	if err != nil {
		return OAuthClient{}, err
	}
	c := OAuthClient{ID: AgentClientPrefix + id, SecretHash: secretHash, CreatedAt: roundTrip(at)}
	err = s.tx(ctx, false, func(tx *sql.Tx) error {
		if err := s.declare(ctx, tx, settingLookup, "on"); err != nil {
			return err
		}
		var (
			enrollID string
			expires  int64
			used     sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT tenant_id, id, room, expires_at, used_at FROM oauth_enrollments WHERE code_hash = $1`,
			codeHash).Scan(&c.TenantID, &enrollID, &c.Room, &expires, &used)
		if err != nil {
			return notFound(err, "enrollment code")
		}
		switch {
		case used.Valid:
			return fmt.Errorf("enrollment code: %w", ErrUsed)
		case !at.Before(fromNanos(expires)):
			return fmt.Errorf("enrollment code: %w", ErrExpired)
		}
		if err := s.declare(ctx, tx, settingTenant, c.TenantID); err != nil {
			return err
		}
		n, err := rowsAffected(tx.ExecContext(ctx, `UPDATE oauth_enrollments SET used_at = $3, client_id = $4
			WHERE tenant_id = $1 AND id = $2 AND used_at IS NULL`, c.TenantID, enrollID, nanos(at), c.ID))
		if err != nil {
			return fmt.Errorf("use enrollment code: %w", err)
		}
		if n == 0 { // another request used it meanwhile
			return fmt.Errorf("enrollment code: %w", ErrUsed)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO oauth_clients (tenant_id, id, room, secret_hash, created_at)
			VALUES ($1, $2, $3, $4, $5)`, c.TenantID, c.ID, c.Room, c.SecretHash, nanos(c.CreatedAt)); err != nil {
			return fmt.Errorf("create agent client: %w", err)
		}
		return nil
	})
	if err != nil {
		return OAuthClient{}, err
	}
	return c, nil
}

// Enrollments returns the tenant's enrollment codes, newest first.
func (s *Store) Enrollments(ctx context.Context, tenantID string) ([]Enrollment, error) {
	var out []Enrollment
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT tenant_id, id, room, code_hash, created_at, expires_at, used_at, client_id
			FROM oauth_enrollments WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC`, tenantID)
		if err != nil {
			return fmt.Errorf("list enrollments: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				e                Enrollment
				created, expires int64
				used             sql.NullInt64
				client           sql.NullString
			)
			if err := rows.Scan(&e.TenantID, &e.ID, &e.Room, &e.CodeHash, &created, &expires, &used, &client); err != nil {
				return fmt.Errorf("list enrollments: %w", err)
			}
			e.CreatedAt, e.ExpiresAt, e.UsedAt, e.ClientID = fromNanos(created), fromNanos(expires), fromNullNanos(used), client.String
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}
