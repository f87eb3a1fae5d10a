package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Session is a signed-in browser, kept only as a hash of its cookie's secret.
type Session struct {
	Hash      []byte // a hash of the session secret; unique across tenants
	TenantID  string
	UserID    string
	CreatedAt time.Time
	LastSeen  time.Time // for the idle timeout
	ExpiresAt time.Time // the absolute timeout
	// ID names the session on the sessions page, where its hash must not appear;
	// CreateSession makes one when empty.
	ID string
	// Stage is SessionFull, SessionMFA or SessionSetup; empty means SessionFull.
	Stage     string
	IP        string // the address it signed in from
	UserAgent string // the browser it signed in with, cut to 200 bytes
}

// Session stages.
const (
	SessionFull  = "full"  // signed in
	SessionMFA   = "mfa"   // password accepted, second factor awaited
	SessionSetup = "setup" // must change the password or set up 2FA before anything else
)

const sessionColumns = `hash, tenant_id, user_id, created_at, last_seen, expires_at, id, stage, ip, user_agent`

// CreateSession stores se. A zero CreatedAt becomes the current time and a zero LastSeen
// the CreatedAt; Hash and ExpiresAt are required. A hash already stored answers
// ErrExists; an unknown tenant or user, ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, se Session) error {
	switch {
	case len(se.Hash) == 0:
		return fmt.Errorf("session hash empty: %w", ErrInvalid)
	case se.ExpiresAt.IsZero():
		return fmt.Errorf("session without expiry: %w", ErrInvalid)
	}
	if err := checkTimes(se.CreatedAt, se.LastSeen, se.ExpiresAt); err != nil {
		return err
	}
	if se.CreatedAt.IsZero() {
		se.CreatedAt = s.now()
	}
	if se.LastSeen.IsZero() {
		se.LastSeen = se.CreatedAt
	}
	if se.Stage == "" {
		se.Stage = SessionFull
	}
	if se.Stage != SessionFull && se.Stage != SessionMFA && se.Stage != SessionSetup {
		return fmt.Errorf("session stage %q: %w", se.Stage, ErrInvalid)
	}
	if se.ID == "" {
		id, err := newID()
		if err != nil {
			return err
		}
		se.ID = id
	}
	if len(se.UserAgent) > 200 {
		se.UserAgent = se.UserAgent[:200]
	}
	return s.write(ctx, se.TenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `
			INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT DO NOTHING`,
			se.Hash, se.TenantID, se.UserID, nanos(se.CreatedAt), nanos(se.LastSeen), nanos(se.ExpiresAt),
			se.ID, se.Stage, se.IP, se.UserAgent))
		switch {
		case isForeignKeyViolation(err):
			return fmt.Errorf("tenant %q user %q: %w", se.TenantID, se.UserID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("create session: %w", err)
		case n == 0:
			return fmt.Errorf("session: %w", ErrExists)
		}
		return nil
	})
}

// SessionByHash finds the session with this hash in any tenant. It does not check the
// timeouts: the caller does, with the tenant's policy.
func (s *Store) SessionByHash(ctx context.Context, hash []byte) (Session, error) {
	var se Session
	err := s.lookup(ctx, func(q querier) error {
		var err error
		se, err = scanSession(q.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE hash = $1`, hash))
		return notFound(err, "session")
	})
	if err != nil {
		return Session{}, err
	}
	return se, nil
}

func scanSession(r scanner) (Session, error) {
	var se Session
	var created, seen, expires int64
	if err := r.Scan(&se.Hash, &se.TenantID, &se.UserID, &created, &seen, &expires, &se.ID, &se.Stage, &se.IP, &se.UserAgent); err != nil {
		return Session{}, err
	}
	se.CreatedAt, se.LastSeen, se.ExpiresAt = fromNanos(created), fromNanos(seen), fromNanos(expires)
	return se, nil
}

// UserSessions returns the user's sessions, newest first.
func (s *Store) UserSessions(ctx context.Context, tenantID, userID string) ([]Session, error) {
	var out []Session
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
			WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC`, tenantID, userID)
		if err != nil {
			return fmt.Errorf("user sessions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			se, err := scanSession(rows)
			if err != nil {
				return fmt.Errorf("user sessions: %w", err)
			}
			out = append(out, se)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteUserSession ends the user's session with this ID; another user's answers
// ErrNotFound.
func (s *Store) DeleteUserSession(ctx context.Context, tenantID, userID, id string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND id = $3`,
			tenantID, userID, id))
		if err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		if n == 0 || id == "" {
			return fmt.Errorf("session %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// DeleteUserSessions ends every session of the user (sign-out everywhere, an
// administrator's revocation, a password change) and returns how many there were.
func (s *Store) DeleteUserSessions(ctx context.Context, tenantID, userID string) (int, error) {
	var n int64
	err := s.write(ctx, tenantID, func(q querier) error {
		var err error
		n, err = rowsAffected(q.ExecContext(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID))
		if err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		return nil
	})
	return int(n), err
}

// TouchSession records that the session was used at at.
func (s *Store) TouchSession(ctx context.Context, hash []byte, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return s.sessionWrite(ctx, hash, func(q querier, tenantID string) (sql.Result, error) {
		return q.ExecContext(ctx, `UPDATE sessions SET last_seen = $3
			WHERE tenant_id = $1 AND hash = $2`, tenantID, hash, nanos(at))
	})
}

// DeleteSession ends the session (sign-out or revocation).
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	return s.sessionWrite(ctx, hash, func(q querier, tenantID string) (sql.Result, error) {
		return q.ExecContext(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND hash = $2`, tenantID, hash)
	})
}

// sessionWrite finds the tenant of the session with hash and runs change as that tenant,
// so that the write passes the row-level security policies, which let the lookup read
// but not write.
func (s *Store) sessionWrite(ctx context.Context, hash []byte, change func(q querier, tenantID string) (sql.Result, error)) error {
	return s.tx(ctx, false, func(tx *sql.Tx) error {
		if err := s.declare(ctx, tx, settingLookup, "on"); err != nil {
			return err
		}
		var tenantID string
		err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM sessions WHERE hash = $1`, hash).Scan(&tenantID)
		if err != nil {
			return notFound(err, "session")
		}
		if err := s.declare(ctx, tx, settingTenant, tenantID); err != nil {
			return err
		}
		n, err := rowsAffected(change(tx, tenantID))
		if err != nil {
			return fmt.Errorf("session: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("session: %w", ErrNotFound)
		}
		return nil
	})
}
