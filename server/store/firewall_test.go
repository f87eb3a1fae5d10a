package store

import (
	"context"
	"database/sql"
	"slices"
	"testing"
)

func TestFirewallRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleViewer}))
		v := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "v@example.org", Role: RoleViewer}))

		// Never set: off, no ranges.
		r := must[FirewallRules](t)(s.FirewallRules(ctx, a.ID))
		if r.TenantID != a.ID || r.Enabled || r.Ranges != nil || r.CountryMode != "" || r.Exceptions != nil {
			t.Fatalf("unset rules = %+v", r)
		}

		want := FirewallRules{TenantID: a.ID, Enabled: true, Ranges: []string{"192.0.2.0/24", "2001:db8::/32"},
			CountryMode: CountryDeny, Countries: []string{"RU", "KP"}, UpdatedBy: "admin@example.org",
			Exceptions: []FirewallException{
				{UserID: v.ID, Ranges: []string{"198.51.100.7/32"}},
				{UserID: u.ID, Anywhere: true},
			}}
		check(t, s.SetFirewallRules(ctx, want))
		got := must[FirewallRules](t)(s.FirewallRules(ctx, a.ID))
		if !got.Enabled || !slices.Equal(got.Ranges, want.Ranges) || got.CountryMode != CountryDeny ||
			!slices.Equal(got.Countries, want.Countries) || got.UpdatedBy != "admin@example.org" || got.UpdatedAt.IsZero() {
			t.Errorf("rules = %+v, want %+v", got, want)
		}
		// Ordered by e-mail, with it filled in.
		if len(got.Exceptions) != 2 || got.Exceptions[0].UserID != u.ID || got.Exceptions[0].Email != "u@example.org" ||
			!got.Exceptions[0].Anywhere || got.Exceptions[0].Ranges != nil ||
			got.Exceptions[1].UserID != v.ID || got.Exceptions[1].Anywhere || !slices.Equal(got.Exceptions[1].Ranges, []string{"198.51.100.7/32"}) {
			t.Errorf("exceptions = %+v", got.Exceptions)
		}

		// Another tenant sees nothing of it.
		if rb := must[FirewallRules](t)(s.FirewallRules(ctx, b.ID)); rb.Enabled || rb.Ranges != nil || rb.Exceptions != nil {
			t.Errorf("tenant b sees %+v", rb)
		}
		// A user of another tenant cannot be excepted.
		err := s.SetFirewallRules(ctx, FirewallRules{TenantID: b.ID, Exceptions: []FirewallException{{UserID: u.ID, Anywhere: true}}})
		wantErr(t, "user of tenant a in tenant b", err, ErrNotFound)
		if rb := must[FirewallRules](t)(s.FirewallRules(ctx, b.ID)); rb.Exceptions != nil {
			t.Errorf("failed change left %+v", rb)
		}
		wantErr(t, "unknown tenant", s.SetFirewallRules(ctx, FirewallRules{TenantID: "nope"}), ErrNotFound)
		wantErr(t, "bad mode", s.SetFirewallRules(ctx, FirewallRules{TenantID: a.ID, CountryMode: "maybe"}), ErrInvalid)
		wantErr(t, "empty range", s.SetFirewallRules(ctx, FirewallRules{TenantID: a.ID, Ranges: []string{""}}), ErrInvalid)
		wantErr(t, "twice", s.SetFirewallRules(ctx, FirewallRules{TenantID: a.ID,
			Exceptions: []FirewallException{{UserID: u.ID}, {UserID: u.ID}}}), ErrInvalid)

		// Replacing drops what is not given again.
		check(t, s.SetFirewallRules(ctx, FirewallRules{TenantID: a.ID, Ranges: []string{"10.0.0.0/8"}}))
		got = must[FirewallRules](t)(s.FirewallRules(ctx, a.ID))
		if got.Enabled || !slices.Equal(got.Ranges, []string{"10.0.0.0/8"}) || got.CountryMode != "" || got.Countries != nil || got.Exceptions != nil {
			t.Errorf("after replacing: %+v", got)
		}
	})
}

// TestFirewallTablesRowLevelSecurity: the tables of migration 15 are under the same
// policies as the others on PostgreSQL.
func TestFirewallTablesRowLevelSecurity(t *testing.T) {
	s := openStore(t, newDSN(t, dialectPostgres))
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		tn := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: name}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: tn.ID, Email: "u@example.org", Role: RoleViewer}))
		check(t, s.SetFirewallRules(ctx, FirewallRules{TenantID: tn.ID, Enabled: true, Ranges: []string{"10.0.0.0/8"},
			Exceptions: []FirewallException{{UserID: u.ID, Anywhere: true}}}))
	}
	a := must[Tenant](t)(s.TenantByName(ctx, "a"))
	for _, table := range firewallTables {
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
