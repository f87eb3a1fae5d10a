package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Roles a user holds in their tenant.
const (
	RoleAdmin   = "admin"
	RoleCreator = "creator"
	RoleViewer  = "viewer"
)

// User is an account in one tenant. The same e-mail address may have an account in
// several tenants.
type User struct {
	ID                 string
	TenantID           string
	Email              string // unique in the tenant, ignoring case
	PasswordHash       string // the encoded Argon2id hash with its parameters
	Role               string // RoleAdmin, RoleCreator or RoleViewer
	MustChangePassword bool
	CreatedAt          time.Time
	// PasswordChangedAt is when the password was last set, for the optional expiry
	// policy; CreateUser sets it to CreatedAt.
	PasswordChangedAt time.Time
	// LockedAt is set while an administrator has locked the account.
	LockedAt *time.Time
	// HasTOTP reports whether a TOTP seed is enrolled (UserTOTP reads it).
	HasTOTP bool
}

const userColumns = `tenant_id, id, email, password_hash, role, must_change_password, created_at`

// userSelect are the columns scanUser reads.
const userSelect = userColumns + `, password_changed_at, locked_at, totp_seed IS NOT NULL`

// emailKey is the form in which e-mail addresses are compared.
func emailKey(email string) string { return strings.ToLower(email) }

// CreateUser stores u and returns it as stored. An empty ID gets a new UUIDv7 and a zero
// CreatedAt the current time. An e-mail address already in the tenant answers ErrExists;
// an unknown tenant, ErrNotFound.
func (s *Store) CreateUser(ctx context.Context, u User) (User, error) {
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
	err := s.write(ctx, u.TenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `
			INSERT INTO users (`+userColumns+`, email_key, password_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT DO NOTHING`,
			u.TenantID, u.ID, u.Email, u.PasswordHash, u.Role, u.MustChangePassword,
			nanos(u.CreatedAt), emailKey(u.Email), nanos(u.PasswordChangedAt)))
		switch {
		case isForeignKeyViolation(err):
			return fmt.Errorf("tenant %q: %w", u.TenantID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("create user: %w", err)
		case n == 0:
			return fmt.Errorf("user %q: %w", u.Email, ErrExists)
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// UserByEmail finds the tenant's user with this e-mail address, ignoring case.
func (s *Store) UserByEmail(ctx context.Context, tenantID, email string) (User, error) {
	var u User
	err := s.read(ctx, tenantID, func(q querier) error {
		var err error
		u, err = scanUser(q.QueryRowContext(ctx, `SELECT `+userSelect+` FROM users
			WHERE tenant_id = $1 AND email_key = $2`, tenantID, emailKey(email)))
		return notFound(err, "user %q", email)
	})
	return u, err
}

// UsersByEmail finds the accounts with this e-mail address in every tenant, oldest first,
// for a sign-in that does not name its tenant. None is no error.
func (s *Store) UsersByEmail(ctx context.Context, email string) ([]User, error) {
	var users []User
	err := s.lookup(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+userSelect+` FROM users
			WHERE email_key = $1 ORDER BY created_at, tenant_id`, emailKey(email))
		if err != nil {
			return fmt.Errorf("users by e-mail: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return fmt.Errorf("users by e-mail: %w", err)
			}
			users = append(users, u)
		}
		return rows.Err()
	})
	return users, err
}

// User finds the tenant's user by ID.
func (s *Store) User(ctx context.Context, tenantID, id string) (User, error) {
	var u User
	err := s.read(ctx, tenantID, func(q querier) error {
		var err error
		u, err = scanUser(q.QueryRowContext(ctx, `SELECT `+userSelect+` FROM users
			WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		return notFound(err, "user %q", id)
	})
	return u, err
}

type scanner interface{ Scan(dest ...any) error }

var _ scanner = (*sql.Row)(nil)

func scanUser(r scanner) (User, error) {
	var (
		u                User
		created, changed int64
		locked           sql.NullInt64
	)
	if err := r.Scan(&u.TenantID, &u.ID, &u.Email, &u.PasswordHash, &u.Role,
		&u.MustChangePassword, &created, &changed, &locked, &u.HasTOTP); err != nil {
		return User{}, err
	}
	u.CreatedAt, u.PasswordChangedAt, u.LockedAt = fromNanos(created), fromNanos(changed), fromNullNanos(locked)
	if u.PasswordChangedAt.IsZero() {
		u.PasswordChangedAt = u.CreatedAt
	}
	return u, nil
}
