package store

import (
	"context"
	"testing"
)

func TestUsers(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		ua := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "Ada@Example.org",
			PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", Role: RoleAdmin, MustChangePassword: true}))
		ub := must[User](t)(s.CreateUser(ctx, User{TenantID: b.ID, Email: "ada@example.org", Role: RoleViewer}))

		_, err := s.CreateUser(ctx, User{TenantID: a.ID, Email: "ADA@example.ORG", Role: RoleViewer})
		wantErr(t, "same e-mail in the tenant, other case", err, ErrExists)
		_, err = s.CreateUser(ctx, User{TenantID: a.ID, ID: ua.ID, Email: "other@example.org", Role: RoleViewer})
		wantErr(t, "same ID", err, ErrExists)
		_, err = s.CreateUser(ctx, User{TenantID: "nope", Email: "x@example.org", Role: RoleViewer})
		wantErr(t, "unknown tenant", err, ErrNotFound)
		_, err = s.CreateUser(ctx, User{TenantID: a.ID, Email: "x@example.org", Role: "root"})
		wantErr(t, "unknown role", err, ErrInvalid)
		_, err = s.CreateUser(ctx, User{TenantID: a.ID, Role: RoleViewer})
		wantErr(t, "no e-mail", err, ErrInvalid)

		for _, got := range []User{
			must[User](t)(s.User(ctx, a.ID, ua.ID)),
			must[User](t)(s.UserByEmail(ctx, a.ID, "ada@EXAMPLE.org")),
		} {
			if got != ua {
				t.Errorf("read %+v, want %+v", got, ua)
			}
		}
		all := must[[]User](t)(s.UsersByEmail(ctx, "ADA@example.org"))
		if len(all) != 2 || all[0] != ua || all[1] != ub {
			t.Errorf("UsersByEmail = %+v, want [%+v %+v]", all, ua, ub)
		}
		if none := must[[]User](t)(s.UsersByEmail(ctx, "nobody@example.org")); len(none) != 0 {
			t.Errorf("UsersByEmail(nobody) = %+v", none)
		}
		_, err = s.User(ctx, a.ID, "nope")
		wantErr(t, "missing user", err, ErrNotFound)
		_, err = s.UserByEmail(ctx, a.ID, "nobody@example.org")
		wantErr(t, "missing e-mail", err, ErrNotFound)
	})
}
