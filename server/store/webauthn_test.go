package store

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"
)

func TestWebAuthnCredentials(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleViewer}))
		v := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "v@example.org", Role: RoleViewer}))

		c := WebAuthnCredential{TenantID: a.ID, UserID: u.ID, CredentialID: []byte{1, 2, 3}, RPID: "localhost",
			PublicKey: []byte("cose"), SignCount: 5, Transports: []string{"usb", "internal"}, Name: "key", Record: []byte(`{}`)}
		added := must[WebAuthnCredential](t)(s.AddWebAuthnCredential(ctx, c))
		if added.ID == "" || added.CreatedAt.IsZero() {
			t.Fatalf("added %+v", added)
		}
		_, err := s.AddWebAuthnCredential(ctx, WebAuthnCredential{TenantID: a.ID, UserID: v.ID, CredentialID: []byte{1, 2, 3},
			RPID: "localhost", PublicKey: []byte("k")})
		wantErr(t, "same credential id", err, ErrExists)
		_, err = s.AddWebAuthnCredential(ctx, WebAuthnCredential{TenantID: a.ID, UserID: "nope", CredentialID: []byte{9},
			RPID: "localhost", PublicKey: []byte("k")})
		wantErr(t, "unknown user", err, ErrNotFound)
		_, err = s.AddWebAuthnCredential(ctx, WebAuthnCredential{TenantID: a.ID, UserID: u.ID, RPID: "localhost", PublicKey: []byte("k")})
		wantErr(t, "no credential id", err, ErrInvalid)
		_, err = s.AddWebAuthnCredential(ctx, WebAuthnCredential{TenantID: a.ID, UserID: u.ID, CredentialID: []byte{8},
			RPID: "localhost", PublicKey: []byte("k"), Transports: []string{"a,b"}})
		wantErr(t, "comma in transport", err, ErrInvalid)

		list := must[[]WebAuthnCredential](t)(s.WebAuthnCredentials(ctx, a.ID, u.ID))
		if len(list) != 1 || !bytes.Equal(list[0].CredentialID, c.CredentialID) || !bytes.Equal(list[0].PublicKey, c.PublicKey) ||
			list[0].SignCount != 5 || !slices.Equal(list[0].Transports, c.Transports) || list[0].Name != "key" ||
			list[0].RPID != "localhost" || !bytes.Equal(list[0].Record, c.Record) || !list[0].CreatedAt.Equal(added.CreatedAt) ||
			list[0].LastUsedAt != nil {
			t.Errorf("credentials = %+v, want %+v", list, added)
		}
		if n := must[int](t)(s.CountWebAuthnCredentials(ctx, a.ID, u.ID)); n != 1 {
			t.Errorf("count %d", n)
		}
		if n := must[int](t)(s.CountWebAuthnCredentials(ctx, a.ID, v.ID)); n != 0 {
			t.Errorf("count of v %d", n)
		}
		if m := must[map[string]int](t)(s.WebAuthnCounts(ctx, a.ID)); len(m) != 1 || m[u.ID] != 1 {
			t.Errorf("counts of tenant a %v", m)
		}
		if m := must[map[string]int](t)(s.WebAuthnCounts(ctx, b.ID)); len(m) != 0 {
			t.Errorf("counts of tenant b %v", m)
		}
		// Another tenant sees nothing of it.
		if list := must[[]WebAuthnCredential](t)(s.WebAuthnCredentials(ctx, b.ID, u.ID)); len(list) != 0 {
			t.Errorf("tenant b sees %+v", list)
		}

		// The signature count must rise; a clone's lower or equal count is refused.
		at := t0.Add(time.Hour)
		check(t, s.UseWebAuthnCredential(ctx, a.ID, u.ID, added.ID, 6, at))
		wantErr(t, "same count", s.UseWebAuthnCredential(ctx, a.ID, u.ID, added.ID, 6, at), ErrConflict)
		wantErr(t, "lower count", s.UseWebAuthnCredential(ctx, a.ID, u.ID, added.ID, 2, at), ErrConflict)
		wantErr(t, "other user", s.UseWebAuthnCredential(ctx, a.ID, v.ID, added.ID, 9, at), ErrNotFound)
		wantErr(t, "other tenant", s.UseWebAuthnCredential(ctx, b.ID, u.ID, added.ID, 9, at), ErrNotFound)
		got := must[[]WebAuthnCredential](t)(s.WebAuthnCredentials(ctx, a.ID, u.ID))[0]
		if got.SignCount != 6 || got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
			t.Errorf("after use: %+v", got)
		}
		// Authenticators without a counter report zero every time.
		z := must[WebAuthnCredential](t)(s.AddWebAuthnCredential(ctx, WebAuthnCredential{TenantID: a.ID, UserID: u.ID,
			CredentialID: []byte{4}, RPID: "localhost", PublicKey: []byte("k"), Name: "passkey"}))
		check(t, s.UseWebAuthnCredential(ctx, a.ID, u.ID, z.ID, 0, at))
		check(t, s.UseWebAuthnCredential(ctx, a.ID, u.ID, z.ID, 0, at))

		wantErr(t, "delete as other user", s.DeleteWebAuthnCredential(ctx, a.ID, v.ID, added.ID), ErrNotFound)
		wantErr(t, "delete in other tenant", s.DeleteWebAuthnCredential(ctx, b.ID, u.ID, added.ID), ErrNotFound)
		check(t, s.DeleteWebAuthnCredential(ctx, a.ID, u.ID, added.ID))
		wantErr(t, "delete again", s.DeleteWebAuthnCredential(ctx, a.ID, u.ID, added.ID), ErrNotFound)
		if n := must[int](t)(s.DeleteUserWebAuthnCredentials(ctx, a.ID, u.ID)); n != 1 {
			t.Errorf("deleted %d, want the one left", n)
		}
		if n := must[int](t)(s.CountWebAuthnCredentials(ctx, a.ID, u.ID)); n != 0 {
			t.Errorf("count after delete %d", n)
		}
	})
}

func TestWebAuthnChallenges(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleViewer}))
		c := WebAuthnChallenge{TenantID: a.ID, SessionID: "s1", Kind: "login", UserID: u.ID, Data: []byte(`{"challenge":"x"}`),
			ExpiresAt: t0.Add(5 * time.Minute)}
		check(t, s.PutWebAuthnChallenge(ctx, c))
		_, err := s.TakeWebAuthnChallenge(ctx, a.ID, "s1", "register")
		wantErr(t, "other kind", err, ErrNotFound)
		_, err = s.TakeWebAuthnChallenge(ctx, a.ID, "s2", "login")
		wantErr(t, "other session", err, ErrNotFound)
		_, err = s.TakeWebAuthnChallenge(ctx, b.ID, "s1", "login")
		wantErr(t, "other tenant", err, ErrNotFound)
		got := must[WebAuthnChallenge](t)(s.TakeWebAuthnChallenge(ctx, a.ID, "s1", "login"))
		if got.UserID != u.ID || !bytes.Equal(got.Data, c.Data) || !got.ExpiresAt.Equal(roundTrip(c.ExpiresAt)) {
			t.Errorf("took %+v, want %+v", got, c)
		}
		_, err = s.TakeWebAuthnChallenge(ctx, a.ID, "s1", "login")
		wantErr(t, "taken twice", err, ErrNotFound)

		// A new begin replaces the one before; an expired challenge is refused.
		check(t, s.PutWebAuthnChallenge(ctx, c))
		c.Data = []byte(`{"challenge":"y"}`)
		check(t, s.PutWebAuthnChallenge(ctx, c))
		if got := must[WebAuthnChallenge](t)(s.TakeWebAuthnChallenge(ctx, a.ID, "s1", "login")); string(got.Data) != string(c.Data) {
			t.Errorf("replaced challenge %s", got.Data)
		}
		c.ExpiresAt = t0
		check(t, s.PutWebAuthnChallenge(ctx, c))
		_, err = s.TakeWebAuthnChallenge(ctx, a.ID, "s1", "login")
		wantErr(t, "expired", err, ErrNotFound)

		wantErr(t, "bad kind", s.PutWebAuthnChallenge(ctx, WebAuthnChallenge{TenantID: a.ID, SessionID: "s", Kind: "x",
			UserID: u.ID, Data: []byte("d"), ExpiresAt: t0}), ErrInvalid)
		wantErr(t, "unknown user", s.PutWebAuthnChallenge(ctx, WebAuthnChallenge{TenantID: a.ID, SessionID: "s", Kind: "login",
			UserID: "nope", Data: []byte("d"), ExpiresAt: t0.Add(time.Hour)}), ErrNotFound)
	})
}
