package store

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/uuid"
)

func TestTenants(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "uni-a", Recipient: "age1a", WrappedIdentity: []byte{0, 1, 2, 0xff}}))
		if id, err := uuid.Parse(a.ID); err != nil || id.Version() != 7 {
			t.Errorf("ID %q is not a UUIDv7", a.ID)
		}
		if !a.CreatedAt.Equal(t0.Add(ms)) {
			t.Errorf("CreatedAt %v, want the store's clock", a.CreatedAt)
		}
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{ID: "tenant-b", Name: "uni-b", Recipient: "age1b"}))
		if b.ID != "tenant-b" {
			t.Errorf("given ID replaced by %q", b.ID)
		}

		for _, got := range []Tenant{
			must[Tenant](t)(s.Tenant(ctx, a.ID)),
			must[Tenant](t)(s.TenantByName(ctx, "uni-a")),
		} {
			if got.ID != a.ID || got.Name != a.Name || got.Recipient != a.Recipient ||
				!bytes.Equal(got.WrappedIdentity, a.WrappedIdentity) || !got.CreatedAt.Equal(a.CreatedAt) {
				t.Errorf("read %+v, want %+v", got, a)
			}
		}
		if got := must[Tenant](t)(s.Tenant(ctx, b.ID)); got.WrappedIdentity != nil {
			t.Errorf("no identity read as %v", got.WrappedIdentity)
		}

		_, err := s.CreateTenant(ctx, Tenant{Name: "uni-a", Recipient: "age1c"})
		wantErr(t, "duplicate name", err, ErrExists)
		_, err = s.CreateTenant(ctx, Tenant{ID: a.ID, Name: "uni-c"})
		wantErr(t, "duplicate ID", err, ErrExists)
		_, err = s.CreateTenant(ctx, Tenant{})
		wantErr(t, "empty name", err, ErrInvalid)
		_, err = s.Tenant(ctx, "nope")
		wantErr(t, "Tenant(missing)", err, ErrNotFound)
		_, err = s.TenantByName(ctx, "UNI-A")
		wantErr(t, "TenantByName is exact", err, ErrNotFound)
	})
}

func TestDeleteTenantIdentity(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a", Recipient: "age1a", WrappedIdentity: []byte("wrapped-a")}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b", Recipient: "age1b", WrappedIdentity: []byte("wrapped-b")}))
		check(t, s.DeleteTenantIdentity(ctx, a.ID))
		check(t, s.DeleteTenantIdentity(ctx, a.ID)) // again: still gone, no error
		if got := must[Tenant](t)(s.Tenant(ctx, a.ID)); got.WrappedIdentity != nil || got.Recipient != "age1a" {
			t.Errorf("after shredding: %+v", got)
		}
		if got := must[Tenant](t)(s.Tenant(ctx, b.ID)); string(got.WrappedIdentity) != "wrapped-b" {
			t.Errorf("other tenant's identity: %q", got.WrappedIdentity)
		}
		wantErr(t, "missing tenant", s.DeleteTenantIdentity(ctx, "nope"), ErrNotFound)
	})
}
