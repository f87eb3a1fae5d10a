package store

import (
	"bytes"
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"
)

func TestSSOConfigs(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		_, err := s.SSOConfig(ctx, a.ID)
		wantErr(t, "before any", err, ErrNotFound)

		c := SSOConfig{TenantID: a.ID, Issuer: "https://idp.example", ClientID: "aula", SealedSecret: []byte("sealed"),
			Scopes: []string{"openid", "email", "groups"}, GroupClaim: "groups", EmailDomain: "Uni.Example"}
		put := must[SSOConfig](t)(s.PutSSOConfig(ctx, c))
		if put.EmailDomain != "uni.example" {
			t.Errorf("domain stored as %q, want lower case", put.EmailDomain)
		}
		got := must[SSOConfig](t)(s.SSOConfig(ctx, a.ID))
		if got.Issuer != c.Issuer || got.ClientID != "aula" || !bytes.Equal(got.SealedSecret, c.SealedSecret) ||
			!slices.Equal(got.Scopes, c.Scopes) || got.GroupClaim != "groups" || !got.UpdatedAt.Equal(put.UpdatedAt) {
			t.Errorf("SSOConfig = %+v, want %+v", got, put)
		}
		if got := must[SSOConfig](t)(s.SSOConfigByDomain(ctx, "UNI.example")); got.TenantID != a.ID {
			t.Errorf("by domain: tenant %q, want %q", got.TenantID, a.ID)
		}
		_, err = s.SSOConfigByDomain(ctx, "other.example")
		wantErr(t, "unknown domain", err, ErrNotFound)
		_, err = s.SSOConfigByDomain(ctx, "")
		wantErr(t, "empty domain", err, ErrNotFound)

		// Replacing keeps one row; another tenant may not take the domain.
		c.ClientID = "aula2"
		must[SSOConfig](t)(s.PutSSOConfig(ctx, c))
		if got := must[SSOConfig](t)(s.SSOConfig(ctx, a.ID)); got.ClientID != "aula2" {
			t.Errorf("after replace: %+v", got)
		}
		_, err = s.PutSSOConfig(ctx, SSOConfig{TenantID: b.ID, Issuer: "https://x", ClientID: "x", SealedSecret: []byte("s"), EmailDomain: "uni.example"})
		wantErr(t, "domain of another tenant", err, ErrExists)
		_, err = s.PutSSOConfig(ctx, SSOConfig{TenantID: b.ID, Issuer: "https://x", ClientID: "x", SealedSecret: []byte("s")})
		check(t, err)
		_, err = s.SSOConfig(ctx, "nope")
		wantErr(t, "unknown tenant", err, ErrNotFound)
		_, err = s.PutSSOConfig(ctx, SSOConfig{TenantID: "nope", Issuer: "https://x", ClientID: "x", SealedSecret: []byte("s")})
		wantErr(t, "put for unknown tenant", err, ErrNotFound)
		_, err = s.PutSSOConfig(ctx, SSOConfig{TenantID: a.ID, ClientID: "x", SealedSecret: []byte("s")})
		wantErr(t, "no issuer", err, ErrInvalid)
		_, err = s.PutSSOConfig(ctx, SSOConfig{TenantID: a.ID, Issuer: "https://x", ClientID: "x"})
		wantErr(t, "no secret", err, ErrInvalid)

		check(t, s.DeleteSSOConfig(ctx, a.ID))
		wantErr(t, "delete again", s.DeleteSSOConfig(ctx, a.ID), ErrNotFound)
		_, err = s.SSOConfigByDomain(ctx, "uni.example")
		wantErr(t, "domain after delete", err, ErrNotFound)
	})
}

func TestSSOLogins(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		l := SSOLogin{TenantID: a.ID, StateHash: []byte("state-1"), BrowserHash: []byte("browser"), Nonce: "n1", Verifier: "v1",
			RedirectURI: "https://aula.example/signin/sso/callback", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
		check(t, s.CreateSSOLogin(ctx, l, 0))
		wantErr(t, "same state", s.CreateSSOLogin(ctx, l, 0), ErrExists)
		wantErr(t, "no nonce", s.CreateSSOLogin(ctx, SSOLogin{TenantID: a.ID, StateHash: []byte("s"), BrowserHash: []byte("b"), Verifier: "v", ExpiresAt: t0}, 0), ErrInvalid)
		wantErr(t, "unknown tenant", s.CreateSSOLogin(ctx, SSOLogin{TenantID: "nope", StateHash: []byte("s"), BrowserHash: []byte("b"), Nonce: "n", Verifier: "v", ExpiresAt: t0}, 0), ErrNotFound)

		freeze(s, t0.Add(time.Minute))
		_, err := s.TakeSSOLogin(ctx, b.ID, l.StateHash)
		wantErr(t, "other tenant", err, ErrNotFound)
		got := must[SSOLogin](t)(s.TakeSSOLogin(ctx, a.ID, l.StateHash))
		if got.Nonce != "n1" || got.Verifier != "v1" || got.RedirectURI != l.RedirectURI || !bytes.Equal(got.BrowserHash, l.BrowserHash) || !got.ExpiresAt.Equal(l.ExpiresAt) {
			t.Errorf("TakeSSOLogin = %+v", got)
		}
		_, err = s.TakeSSOLogin(ctx, a.ID, l.StateHash)
		wantErr(t, "taken twice (replay)", err, ErrNotFound)

		// An expired login is refused and gone.
		l2 := l
		l2.StateHash = []byte("state-2")
		check(t, s.CreateSSOLogin(ctx, l2, 0))
		freeze(s, t0.Add(10*time.Minute))
		_, err = s.TakeSSOLogin(ctx, a.ID, l2.StateHash)
		wantErr(t, "expired", err, ErrNotFound)
		_, err = s.TakeSSOLogin(ctx, a.ID, l2.StateHash)
		wantErr(t, "expired, again", err, ErrNotFound)

		// Logins long expired are forgotten when a new one starts.
		l3 := l
		l3.StateHash = []byte("state-3")
		check(t, s.CreateSSOLogin(ctx, l3, 0))
		l4 := l
		l4.StateHash, l4.CreatedAt, l4.ExpiresAt = []byte("state-4"), t0.Add(time.Hour), t0.Add(time.Hour+10*time.Minute)
		check(t, s.CreateSSOLogin(ctx, l4, 0))
		var n int
		check(t, s.read(ctx, a.ID, func(q querier) error {
			return q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sso_logins WHERE tenant_id = $1`, a.ID).Scan(&n)
		}))
		if n != 1 {
			t.Errorf("%d logins kept, want 1 (the expired one forgotten)", n)
		}

		// A tenant with too many sign-ins in flight refuses more, until they expire.
		l5 := l4
		l5.StateHash = []byte("state-5")
		wantErr(t, "over the limit", s.CreateSSOLogin(ctx, l5, 1), ErrConflict)
		check(t, s.CreateSSOLogin(ctx, l5, 2))
		l6 := l4
		l6.StateHash, l6.CreatedAt, l6.ExpiresAt = []byte("state-6"), t0.Add(2*time.Hour), t0.Add(2*time.Hour+time.Minute)
		check(t, s.CreateSSOLogin(ctx, l6, 1))
	})
}

func TestSSOIdentities(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		const iss = "https://idp.example"
		u := must[User](t)(s.ProvisionSSOUser(ctx, User{TenantID: a.ID, Email: "ada@uni.example", Role: RoleViewer, PasswordHash: "ignored"}, iss, "sub-1"))
		if u.PasswordHash != "" || u.ID == "" {
			t.Errorf("provisioned %+v: want an ID and no password", u)
		}
		if got := must[User](t)(s.UserBySSOIdentity(ctx, a.ID, iss, "sub-1")); got != u {
			t.Errorf("UserBySSOIdentity = %+v, want %+v", got, u)
		}
		_, err := s.UserBySSOIdentity(ctx, b.ID, iss, "sub-1")
		wantErr(t, "other tenant", err, ErrNotFound)
		_, err = s.UserBySSOIdentity(ctx, a.ID, "https://other.example", "sub-1")
		wantErr(t, "other issuer", err, ErrNotFound)

		// A second subject with the same e-mail makes nothing: no joining by e-mail.
		_, err = s.ProvisionSSOUser(ctx, User{TenantID: a.ID, Email: "ADA@uni.example", Role: RoleViewer}, iss, "sub-2")
		wantErr(t, "e-mail taken", err, ErrExists)
		_, err = s.UserBySSOIdentity(ctx, a.ID, iss, "sub-2")
		wantErr(t, "nothing linked after refusal", err, ErrNotFound)
		// The same subject again (two first sign-ins racing) makes no second user.
		_, err = s.ProvisionSSOUser(ctx, User{TenantID: a.ID, Email: "other@uni.example", Role: RoleViewer}, iss, "sub-1")
		wantErr(t, "subject taken", err, ErrExists)
		if _, err := s.UserByEmail(ctx, a.ID, "other@uni.example"); err == nil {
			t.Error("the refused provisioning left a user behind")
		}

		// An administrator links a local account explicitly.
		local := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "local@uni.example", Role: RoleAdmin}))
		must[SSOIdentity](t)(s.LinkSSOIdentity(ctx, SSOIdentity{TenantID: a.ID, Issuer: iss, Subject: "sub-3", UserID: local.ID}))
		if got := must[User](t)(s.UserBySSOIdentity(ctx, a.ID, iss, "sub-3")); got.ID != local.ID {
			t.Errorf("linked user %q, want %q", got.ID, local.ID)
		}
		_, err = s.LinkSSOIdentity(ctx, SSOIdentity{TenantID: a.ID, Issuer: iss, Subject: "sub-4", UserID: local.ID})
		wantErr(t, "second subject at one issuer", err, ErrExists)
		_, err = s.LinkSSOIdentity(ctx, SSOIdentity{TenantID: a.ID, Issuer: iss, Subject: "sub-5", UserID: "nope"})
		wantErr(t, "unknown user", err, ErrNotFound)

		later := t0.Add(time.Hour)
		check(t, s.TouchSSOIdentity(ctx, a.ID, iss, "sub-1", later))
		wantErr(t, "touch unknown", s.TouchSSOIdentity(ctx, a.ID, iss, "nope", later), ErrNotFound)
		ids := must[[]SSOIdentity](t)(s.UserSSOIdentities(ctx, a.ID, u.ID))
		if len(ids) != 1 || ids[0].Subject != "sub-1" || !ids[0].LastSignIn.Equal(later) {
			t.Errorf("UserSSOIdentities = %+v", ids)
		}
	})
}

// TestSSORowLevelSecurity checks PostgreSQL's guard on the tables of migration 5: a
// query that forgets its tenant sees none of their rows, one tenant sees only its own,
// the lookup sees only providers (for the e-mail domain), and no tenant writes another's.
func TestSSORowLevelSecurity(t *testing.T) {
	s := openStore(t, newDSN(t, dialectPostgres))
	ctx := context.Background()
	a, b := tenant(t, s, "a"), tenant(t, s, "b")
	for i, id := range []string{a.ID, b.ID} {
		u := must[User](t)(s.ProvisionSSOUser(ctx, User{TenantID: id, Email: "u@example.org", Role: RoleViewer}, "https://idp.example", "sub"))
		_, _, err := s.SyncGroups(ctx, id, u.ID, GroupSSO, []string{"staff"})
		check(t, err)
		must[SSOConfig](t)(s.PutSSOConfig(ctx, SSOConfig{TenantID: id, Issuer: "https://idp.example", ClientID: "c",
			SealedSecret: []byte("s"), EmailDomain: []string{"a.example", "b.example"}[i]}))
		check(t, s.CreateSSOLogin(ctx, SSOLogin{TenantID: id, StateHash: []byte("state"), BrowserHash: []byte("b"), Nonce: "n",
			Verifier: "v", ExpiresAt: t0.Add(time.Hour)}, 0))
	}
	count := func(setting, value, table string) (n int) {
		t.Helper()
		check(t, s.tx(ctx, false, func(tx *sql.Tx) error {
			if setting != "" {
				if err := s.declare(ctx, tx, setting, value); err != nil {
					return err
				}
			}
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n)
		}))
		return n
	}
	for _, table := range ssoTables {
		if n := count("", "", table); n != 0 {
			t.Errorf("no tenant declared: %d rows of %s visible", n, table)
		}
		if n := count(settingTenant, a.ID, table); n != 1 {
			t.Errorf("as a: %d rows of %s visible, want 1", n, table)
		}
		want := 0
		if table == "sso_configs" {
			want = 2
		}
		if n := count(settingLookup, "on", table); n != want {
			t.Errorf("lookup: %d rows of %s visible, want %d", n, table, want)
		}
	}
	err := s.tx(ctx, false, func(tx *sql.Tx) error {
		if err := s.declare(ctx, tx, settingTenant, a.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO groups (tenant_id, id, name, source, created_at) VALUES ($1, 'forged', 'x', 'local', 0)`, b.ID)
		return err
	})
	if err == nil {
		t.Error("as a, insert into b's groups: no error")
	}
}
