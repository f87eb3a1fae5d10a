package auth

import (
	"bytes"
	"context"
	"fmt"

	"filippo.io/age"

	"github.com/aulacapture/aula/internal/seal"
	"github.com/aulacapture/aula/server/store"
)

// Sealer encrypts a tenant's small secrets at rest, such as TOTP seeds.
type Sealer interface {
	Seal(ctx context.Context, tenantID string, plain []byte) ([]byte, error)
	Open(ctx context.Context, tenantID string, sealed []byte) ([]byte, error)
}

// IdentitySource gives a tenant's age identity; *keyring.Ring is one.
type IdentitySource interface {
	Identity(ctx context.Context, tenantID string) (*age.X25519Identity, error)
}

// TenantFinder finds a tenant, for its age recipient; *store.Store is one.
type TenantFinder interface {
	Tenant(ctx context.Context, id string) (store.Tenant, error)
}

// TenantSealer seals to the tenant's age recipient and opens with its identity from the
// key ring, as segments are sealed, so deleting the tenant's key shreds these secrets too.
type TenantSealer struct {
	Keys    IdentitySource
	Tenants TenantFinder
}

var _ Sealer = TenantSealer{}

// maxSecret caps what Open will decrypt; these secrets are tiny.
const maxSecret = 4096

// Seal implements Sealer.
func (s TenantSealer) Seal(ctx context.Context, tenantID string, plain []byte) ([]byte, error) {
	t, err := s.Tenants.Tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	r, err := seal.ParseRecipient(t.Recipient)
	if err != nil {
		return nil, fmt.Errorf("recipient of tenant %q: %w", tenantID, err)
	}
	var buf bytes.Buffer
	if err := seal.Seal(&buf, plain, r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Open implements Sealer.
func (s TenantSealer) Open(ctx context.Context, tenantID string, sealed []byte) ([]byte, error) {
	id, err := s.Keys.Identity(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return seal.Open(sealed, maxSecret, id)
}
