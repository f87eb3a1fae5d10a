package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// accountsVersion is the Go migration that puts the tables of migration 3 under
// row-level security on PostgreSQL.
const accountsVersion = 4

func init() {
	registerIsolation(accountsVersion, nil, accountTables...)
}

// accountTables are the tables migration 3 adds; each carries tenant_id and is read and
// written only as its tenant, so none needs a lookup policy.
var accountTables = []string{"tenant_policies", "recovery_codes", "signin_failures", "audit_events"}

// changeUser runs one UPDATE of the tenant's user and answers ErrNotFound when no row
// changed.
func (s *Store) changeUser(ctx context.Context, tenantID, userID, what, query string, args ...any) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, query, append([]any{tenantID, userID}, args...)...))
		if err != nil {
			return fmt.Errorf("%s of user %q: %w", what, userID, err)
		}
		if n == 0 {
			return fmt.Errorf("user %q: %w", userID, ErrNotFound)
		}
		return nil
	})
}

// ListUsers returns the tenant's users in order of e-mail address.
func (s *Store) ListUsers(ctx context.Context, tenantID string) ([]User, error) {
	var users []User
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+userSelect+` FROM users WHERE tenant_id = $1 ORDER BY email_key`, tenantID)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return fmt.Errorf("list users: %w", err)
			}
			users = append(users, u)
		}
		return rows.Err()
	})
	return users, err
}

// SetPassword stores a new password hash set at at, and whether it must be changed at
// the next sign-in (true after an administrator's reset).
func (s *Store) SetPassword(ctx context.Context, tenantID, userID, hash string, mustChange bool, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return s.changeUser(ctx, tenantID, userID, "set password", `UPDATE users
		SET password_hash = $3, must_change_password = $4, password_changed_at = $5
		WHERE tenant_id = $1 AND id = $2`, hash, mustChange, nanos(at))
}

// RehashPassword replaces the user's hash by newHash of the same password, made with
// stronger parameters, unless the hash changed since oldHash was read. It keeps the
// time the password was chosen.
func (s *Store) RehashPassword(ctx context.Context, tenantID, userID, oldHash, newHash string) error {
	return s.changeUser(ctx, tenantID, userID, "re-hash password", `UPDATE users SET password_hash = $4
		WHERE tenant_id = $1 AND id = $2 AND password_hash = $3`, oldHash, newHash)
}

// SetMustChangePassword sets or clears the forced-reset flag.
func (s *Store) SetMustChangePassword(ctx context.Context, tenantID, userID string, must bool) error {
	return s.changeUser(ctx, tenantID, userID, "force reset", `UPDATE users SET must_change_password = $3
		WHERE tenant_id = $1 AND id = $2`, must)
}

// SetUserLocked locks the account at at, or unlocks it when at is nil.
func (s *Store) SetUserLocked(ctx context.Context, tenantID, userID string, at *time.Time) error {
	if at != nil {
		if err := checkTimes(*at); err != nil {
			return err
		}
	}
	return s.changeUser(ctx, tenantID, userID, "lock", `UPDATE users SET locked_at = $3
		WHERE tenant_id = $1 AND id = $2`, nullNanos(at))
}

// UserTOTP returns the user's sealed TOTP seed (nil without TOTP) and the last step
// whose code was accepted.
func (s *Store) UserTOTP(ctx context.Context, tenantID, userID string) (sealed []byte, lastStep int64, err error) {
	err = s.read(ctx, tenantID, func(q querier) error {
		err := q.QueryRowContext(ctx, `SELECT totp_seed, totp_last_step FROM users WHERE tenant_id = $1 AND id = $2`,
			tenantID, userID).Scan(&sealed, &lastStep)
		return notFound(err, "user %q", userID)
	})
	return sealed, lastStep, err
}

// SetUserTOTP stores the user's sealed TOTP seed, or removes it when sealed is nil. The
// last accepted step stays, so no code accepted before is accepted again.
func (s *Store) SetUserTOTP(ctx context.Context, tenantID, userID string, sealed []byte) error {
	var v any
	if sealed != nil {
		v = sealed
	}
	return s.changeUser(ctx, tenantID, userID, "set totp", `UPDATE users SET totp_seed = $3
		WHERE tenant_id = $1 AND id = $2`, v)
}

// UseTOTPStep records that the code of step was accepted. A step at or before the last
// one recorded answers ErrConflict, atomically, so two requests racing with one code
// cannot both pass.
func (s *Store) UseTOTPStep(ctx context.Context, tenantID, userID string, step int64) error {
	err := s.changeUser(ctx, tenantID, userID, "use totp step", `UPDATE users SET totp_last_step = $3
		WHERE tenant_id = $1 AND id = $2 AND totp_last_step < $3`, step)
	if err != nil {
		if _, _, e := s.UserTOTP(ctx, tenantID, userID); e == nil {
			return fmt.Errorf("totp step %d already used: %w", step, ErrConflict)
		}
	}
	return err
}

// ReplaceRecoveryCodes makes hashes the user's only recovery codes.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes [][]byte) error {
	now := nanos(s.now())
	return s.write(ctx, tenantID, func(q querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID); err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		}
		for _, h := range hashes {
			if len(h) == 0 {
				return fmt.Errorf("recovery code hash empty: %w", ErrInvalid)
			}
			_, err := q.ExecContext(ctx, `INSERT INTO recovery_codes (tenant_id, user_id, hash, created_at)
				VALUES ($1, $2, $3, $4)`, tenantID, userID, h, now)
			if isForeignKeyViolation(err) {
				return fmt.Errorf("user %q: %w", userID, ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("replace recovery codes: %w", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks the user's unused recovery code with this hash used. A code
// unknown or used before answers ErrNotFound.
func (s *Store) UseRecoveryCode(ctx context.Context, tenantID, userID string, hash []byte) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $4
			WHERE tenant_id = $1 AND user_id = $2 AND hash = $3 AND used_at IS NULL`,
			tenantID, userID, hash, nanos(s.now())))
		if err != nil {
			return fmt.Errorf("use recovery code: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("recovery code: %w", ErrNotFound)
		}
		return nil
	})
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, tenantID, userID string) (int, error) {
	var n int
	err := s.read(ctx, tenantID, func(q querier) error {
		return q.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes
			WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL`, tenantID, userID).Scan(&n)
	})
	return n, err
}

// AddSigninFailure records a failed sign-in to the user's account at at, and forgets
// the user's failures older than a day.
func (s *Store) AddSigninFailure(ctx context.Context, tenantID, userID string, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return s.write(ctx, tenantID, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO signin_failures (tenant_id, user_id, at) VALUES ($1, $2, $3)`,
			tenantID, userID, nanos(at))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("user %q: %w", userID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("record sign-in failure: %w", err)
		}
		_, err = q.ExecContext(ctx, `DELETE FROM signin_failures WHERE tenant_id = $1 AND user_id = $2 AND at < $3`,
			tenantID, userID, nanos(at.Add(-24*time.Hour)))
		return err
	})
}

// SigninFailures returns the times of the user's failed sign-ins since since, oldest
// first.
func (s *Store) SigninFailures(ctx context.Context, tenantID, userID string, since time.Time) ([]time.Time, error) {
	var out []time.Time
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT at FROM signin_failures
			WHERE tenant_id = $1 AND user_id = $2 AND at >= $3 ORDER BY at`, tenantID, userID, nanos(since))
		if err != nil {
			return fmt.Errorf("sign-in failures: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var at int64
			if err := rows.Scan(&at); err != nil {
				return err
			}
			out = append(out, fromNanos(at))
		}
		return rows.Err()
	})
	return out, err
}

// ClearSigninFailures forgets the user's failed sign-ins (after a successful one, or an
// administrator's unlock).
func (s *Store) ClearSigninFailures(ctx context.Context, tenantID, userID string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		_, err := q.ExecContext(ctx, `DELETE FROM signin_failures WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID)
		return err
	})
}

// TenantPolicy is a tenant's security policy. Zero durations mean the defaults
// (timeouts) or off (password expiry).
type TenantPolicy struct {
	TenantID string
	// Require2FA makes every user of the tenant set up a second factor (administrators
	// always must).
	Require2FA bool
	// PasswordMaxAge, when not zero, makes a password older than this be changed at the
	// next sign-in. Off by default (NIST and ASVS advise against periodic change).
	PasswordMaxAge time.Duration
	// IdleTimeout and AbsoluteTimeout end sessions unused for, or older than, so long.
	IdleTimeout, AbsoluteTimeout time.Duration
	UpdatedAt                    time.Time
}

// TenantPolicy returns the tenant's policy; a tenant that never set one has the zero
// policy, with TenantID filled in.
func (s *Store) TenantPolicy(ctx context.Context, tenantID string) (TenantPolicy, error) {
	p := TenantPolicy{TenantID: tenantID}
	err := s.read(ctx, tenantID, func(q querier) error {
		var maxAge, idle, absolute, updated int64
		err := q.QueryRowContext(ctx, `SELECT require_2fa, password_max_age, idle_timeout, absolute_timeout, updated_at
			FROM tenant_policies WHERE tenant_id = $1`, tenantID).Scan(&p.Require2FA, &maxAge, &idle, &absolute, &updated)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tenant policy: %w", err)
		}
		p.PasswordMaxAge, p.IdleTimeout, p.AbsoluteTimeout = time.Duration(maxAge), time.Duration(idle), time.Duration(absolute)
		p.UpdatedAt = fromNanos(updated)
		return nil
	})
	return p, err
}

// SetTenantPolicy stores p as its tenant's policy.
func (s *Store) SetTenantPolicy(ctx context.Context, p TenantPolicy) error {
	if p.PasswordMaxAge < 0 || p.IdleTimeout < 0 || p.AbsoluteTimeout < 0 {
		return fmt.Errorf("negative duration in tenant policy: %w", ErrInvalid)
	}
	return s.write(ctx, p.TenantID, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO tenant_policies
			(tenant_id, require_2fa, password_max_age, idle_timeout, absolute_timeout, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant_id) DO UPDATE SET require_2fa = excluded.require_2fa,
				password_max_age = excluded.password_max_age, idle_timeout = excluded.idle_timeout,
				absolute_timeout = excluded.absolute_timeout, updated_at = excluded.updated_at`,
			p.TenantID, p.Require2FA, int64(p.PasswordMaxAge), int64(p.IdleTimeout), int64(p.AbsoluteTimeout), nanos(s.now()))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("tenant %q: %w", p.TenantID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("set tenant policy: %w", err)
		}
		return nil
	})
}
