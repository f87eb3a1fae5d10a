package store

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

func TestAccounts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleViewer, PasswordHash: "h1"}))
		if !u.PasswordChangedAt.Equal(u.CreatedAt) || u.HasTOTP || u.LockedAt != nil {
			t.Errorf("new user %+v", u)
		}
		later := t0.Add(time.Hour)
		check(t, s.SetPassword(ctx, a.ID, u.ID, "h2", true, later))
		wantErr(t, "rehash after a change", s.RehashPassword(ctx, a.ID, u.ID, "h1", "h3"), ErrNotFound)
		check(t, s.RehashPassword(ctx, a.ID, u.ID, "h2", "h3"))
		got := must[User](t)(s.User(ctx, a.ID, u.ID))
		if got.PasswordHash != "h3" || !got.MustChangePassword || !got.PasswordChangedAt.Equal(later) {
			t.Errorf("after set password: %+v", got)
		}
		wantErr(t, "other tenant's user", s.SetPassword(ctx, b.ID, u.ID, "x", false, later), ErrNotFound)

		check(t, s.SetUserLocked(ctx, a.ID, u.ID, &later))
		if got := must[User](t)(s.User(ctx, a.ID, u.ID)); got.LockedAt == nil || !got.LockedAt.Equal(later) {
			t.Errorf("locked: %+v", got)
		}
		check(t, s.SetUserLocked(ctx, a.ID, u.ID, nil))

		check(t, s.SetUserTOTP(ctx, a.ID, u.ID, []byte("sealed")))
		check(t, s.UseTOTPStep(ctx, a.ID, u.ID, 10))
		wantErr(t, "same step", s.UseTOTPStep(ctx, a.ID, u.ID, 10), ErrConflict)
		wantErr(t, "earlier step", s.UseTOTPStep(ctx, a.ID, u.ID, 9), ErrConflict)
		seed, last := must2(t)(s.UserTOTP(ctx, a.ID, u.ID))
		if string(seed) != "sealed" || last != 10 || !must[User](t)(s.User(ctx, a.ID, u.ID)).HasTOTP {
			t.Errorf("totp %q %d", seed, last)
		}

		check(t, s.ReplaceRecoveryCodes(ctx, a.ID, u.ID, [][]byte{[]byte("c1"), []byte("c2")}))
		check(t, s.UseRecoveryCode(ctx, a.ID, u.ID, []byte("c1")))
		wantErr(t, "code twice", s.UseRecoveryCode(ctx, a.ID, u.ID, []byte("c1")), ErrNotFound)
		wantErr(t, "code from another tenant", s.UseRecoveryCode(ctx, b.ID, u.ID, []byte("c2")), ErrNotFound)
		if n := must[int](t)(s.RecoveryCodesLeft(ctx, a.ID, u.ID)); n != 1 {
			t.Errorf("%d codes left", n)
		}

		for i := range 3 {
			check(t, s.AddSigninFailure(ctx, a.ID, u.ID, t0.Add(time.Duration(i)*time.Minute)))
		}
		if f := must[[]time.Time](t)(s.SigninFailures(ctx, a.ID, u.ID, t0.Add(time.Minute))); len(f) != 2 || !f[0].Equal(t0.Add(time.Minute)) {
			t.Errorf("failures %v", f)
		}
		check(t, s.ClearSigninFailures(ctx, a.ID, u.ID))
		if f := must[[]time.Time](t)(s.SigninFailures(ctx, a.ID, u.ID, t0)); len(f) != 0 {
			t.Errorf("failures after clear %v", f)
		}

		if p := must[TenantPolicy](t)(s.TenantPolicy(ctx, a.ID)); p != (TenantPolicy{TenantID: a.ID}) {
			t.Errorf("default policy %+v", p)
		}
		check(t, s.SetTenantPolicy(ctx, TenantPolicy{TenantID: a.ID, Require2FA: true, IdleTimeout: time.Minute}))
		check(t, s.SetTenantPolicy(ctx, TenantPolicy{TenantID: a.ID, Require2FA: true, IdleTimeout: 2 * time.Minute, AbsoluteTimeout: time.Hour}))
		if p := must[TenantPolicy](t)(s.TenantPolicy(ctx, a.ID)); !p.Require2FA || p.IdleTimeout != 2*time.Minute || p.AbsoluteTimeout != time.Hour {
			t.Errorf("policy %+v", p)
		}
		if p := must[TenantPolicy](t)(s.TenantPolicy(ctx, b.ID)); p.Require2FA {
			t.Errorf("b's policy %+v", p)
		}

		must[AuditEvent](t)(s.AppendAudit(ctx, AuditEvent{TenantID: a.ID, Action: "account.locked", Actor: "cli", UserID: u.ID}))
		must[AuditEvent](t)(s.AppendAudit(ctx, AuditEvent{TenantID: a.ID, Action: "account.unlocked", Actor: "cli", UserID: u.ID}))
		if ev := must[[]AuditEvent](t)(s.AuditEvents(ctx, a.ID, 10)); len(ev) != 2 || ev[0].Action != "account.unlocked" {
			t.Errorf("audit %+v", ev)
		}
		if ev := must[[]AuditEvent](t)(s.AuditEvents(ctx, b.ID, 10)); len(ev) != 0 {
			t.Errorf("b sees a's audit %+v", ev)
		}
		if users := must[[]User](t)(s.ListUsers(ctx, a.ID)); len(users) != 1 {
			t.Errorf("users %+v", users)
		}
	})
}

func TestUserSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleViewer}))
		v := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "v@example.org", Role: RoleViewer}))
		for i, h := range []string{"h1", "h2", "h3"} {
			owner := u
			if i == 2 {
				owner = v
			}
			check(t, s.CreateSession(ctx, Session{Hash: []byte(h), TenantID: a.ID, UserID: owner.ID, ExpiresAt: t0.Add(time.Hour),
				CreatedAt: t0.Add(time.Duration(i) * time.Second), IP: "192.0.2.1", UserAgent: "test"}))
		}
		wantErr(t, "bad stage", s.CreateSession(ctx, Session{Hash: []byte("h4"), TenantID: a.ID, UserID: u.ID, ExpiresAt: t0, Stage: "root"}), ErrInvalid)
		list := must[[]Session](t)(s.UserSessions(ctx, a.ID, u.ID))
		if len(list) != 2 || string(list[0].Hash) != "h2" || list[0].ID == "" || list[0].Stage != SessionFull || list[0].IP != "192.0.2.1" {
			t.Fatalf("sessions %+v", list)
		}
		vs := must[[]Session](t)(s.UserSessions(ctx, a.ID, v.ID))
		wantErr(t, "revoke another user's session", s.DeleteUserSession(ctx, a.ID, u.ID, vs[0].ID), ErrNotFound)
		check(t, s.DeleteUserSession(ctx, a.ID, u.ID, list[0].ID))
		if n := must[int](t)(s.DeleteUserSessions(ctx, a.ID, u.ID)); n != 1 {
			t.Errorf("deleted %d", n)
		}
		if left := must[[]Session](t)(s.UserSessions(ctx, a.ID, v.ID)); len(left) != 1 {
			t.Errorf("v's sessions %+v", left)
		}
	})
}

// TestAccountTablesRowLevelSecurity: the tables of migration 3 are under the same
// policies as the others on PostgreSQL.
func TestAccountTablesRowLevelSecurity(t *testing.T) {
	s := openStore(t, newDSN(t, dialectPostgres))
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		tn := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: name}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: tn.ID, Email: "u@example.org", Role: RoleViewer}))
		check(t, s.SetTenantPolicy(ctx, TenantPolicy{TenantID: tn.ID}))
		check(t, s.ReplaceRecoveryCodes(ctx, tn.ID, u.ID, [][]byte{[]byte("c")}))
		check(t, s.AddSigninFailure(ctx, tn.ID, u.ID, t0))
		must[AuditEvent](t)(s.AppendAudit(ctx, AuditEvent{TenantID: tn.ID, Action: "x"}))
	}
	a := must[Tenant](t)(s.TenantByName(ctx, "a"))
	for _, table := range accountTables {
		for _, c := range []struct {
			setting, value string
			want           int
		}{{"", "", 0}, {settingLookup, "on", 0}, {settingTenant, a.ID, 1}} {
			var n int
			check(t, s.tx(ctx, false, func(tx *sql.Tx) error {
				if c.setting != "" {
					if err := s.declare(ctx, tx, c.setting, c.value); err != nil {
						return err
					}
				}
				return tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n)
			}))
			if n != c.want {
				t.Errorf("%s as %q: %d rows visible, want %d", table, c.setting, n, c.want)
			}
		}
	}
}

func must2(t *testing.T) func(a []byte, b int64, err error) ([]byte, int64) {
	return func(a []byte, b int64, err error) ([]byte, int64) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}
