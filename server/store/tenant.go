package store

import (
	"context"
	"fmt"
	"time"
)

// Tenant is an organisation whose data is kept apart from every other's.
type Tenant struct {
	ID        string
	Name      string // unique across the server
	Recipient string // the age recipient that agents seal segments to
	// WrappedIdentity is the tenant's age identity wrapped by the master key; nil once
	// deleted (crypto-shredding).
	WrappedIdentity []byte
	CreatedAt       time.Time
}

const tenantColumns = `id, name, recipient, wrapped_identity, created_at`

// CreateTenant stores t and returns it as stored. An empty ID gets a new UUIDv7 and a zero
// CreatedAt the current time. A name already taken answers ErrExists.
func (s *Store) CreateTenant(ctx context.Context, t Tenant) (Tenant, error) {
	if t.Name == "" {
		return Tenant{}, fmt.Errorf("tenant name empty: %w", ErrInvalid)
	}
	if err := checkTimes(t.CreatedAt); err != nil {
		return Tenant{}, err
	}
	if t.ID == "" {
		id, err := newID()
		if err != nil {
			return Tenant{}, err
		}
		t.ID = id
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.CreatedAt = roundTrip(t.CreatedAt)
	err := s.write(ctx, t.ID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `
			INSERT INTO tenants (`+tenantColumns+`) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`,
			t.ID, t.Name, t.Recipient, t.WrappedIdentity, nanos(t.CreatedAt)))
		if err != nil {
			return fmt.Errorf("create tenant %q: %w", t.Name, err)
		}
		if n == 0 {
			return fmt.Errorf("tenant %q: %w", t.Name, ErrExists)
		}
		return ensureRoot(ctx, q, t)
	})
	if err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// TenantByName finds a tenant by its name.
func (s *Store) TenantByName(ctx context.Context, name string) (Tenant, error) {
	return s.findTenant(ctx, `name = $1`, name)
}

// Tenant finds a tenant by its ID.
func (s *Store) Tenant(ctx context.Context, id string) (Tenant, error) {
	return s.findTenant(ctx, `id = $1`, id)
}

func (s *Store) findTenant(ctx context.Context, where, arg string) (Tenant, error) {
	var t Tenant
	err := s.lookup(ctx, func(q querier) error {
		var created int64
		err := q.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE `+where, arg).
			Scan(&t.ID, &t.Name, &t.Recipient, &t.WrappedIdentity, &created)
		t.CreatedAt = fromNanos(created)
		return notFound(err, "tenant %q", arg)
	})
	if err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// DeleteTenantIdentity forgets the tenant's wrapped identity, which makes everything
// sealed to the tenant unreadable, backups included (crypto-shredding).
func (s *Store) DeleteTenantIdentity(ctx context.Context, id string) error {
	return s.write(ctx, id, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx,
			`UPDATE tenants SET wrapped_identity = NULL WHERE id = $1`, id))
		if err != nil {
			return fmt.Errorf("delete identity of tenant %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("tenant %q: %w", id, ErrNotFound)
		}
		return nil
	})
}
