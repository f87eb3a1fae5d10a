package firewall

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a.Unmap()
}

// memStore is a Store in memory that counts reads.
type memStore struct {
	mu    sync.Mutex
	rules map[string]store.FirewallRules
	users []store.User
	reads int
}

func (m *memStore) FirewallRules(_ context.Context, tenantID string) (store.FirewallRules, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	r, ok := m.rules[tenantID]
	if !ok {
		return store.FirewallRules{TenantID: tenantID}, nil
	}
	for i, e := range r.Exceptions {
		for _, u := range m.users {
			if u.ID == e.UserID {
				r.Exceptions[i].Email = u.Email
			}
		}
	}
	return r, nil
}

func (m *memStore) SetFirewallRules(_ context.Context, r store.FirewallRules) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rules == nil {
		m.rules = map[string]store.FirewallRules{}
	}
	r.UpdatedAt = time.Now()
	m.rules[r.TenantID] = r
	return nil
}

func (m *memStore) UserByEmail(_ context.Context, tenantID, email string) (store.User, error) {
	for _, u := range m.users {
		if u.TenantID == tenantID && strings.EqualFold(u.Email, email) {
			return u, nil
		}
	}
	return store.User{}, store.ErrNotFound
}

func (m *memStore) User(_ context.Context, tenantID, id string) (store.User, error) {
	for _, u := range m.users {
		if u.TenantID == tenantID && u.ID == id {
			return u, nil
		}
	}
	return store.User{}, store.ErrNotFound
}

type auditRecord struct{ tenant, action, actor, user, ip, detail string }

type recorder struct {
	mu      sync.Mutex
	records []auditRecord
}

func (r *recorder) audit(_ context.Context, tenantID, action, actor, userID, ip, detail string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, auditRecord{tenantID, action, actor, userID, ip, detail})
	return nil
}

func newService(t *testing.T, geo Locator) (*Service, *memStore, *recorder) {
	m := &memStore{users: []store.User{
		{TenantID: "t", ID: "admin", Email: "admin@example.org"},
		{TenantID: "t", ID: "alice", Email: "alice@example.org"},
		{TenantID: "t", ID: "bob", Email: "bob@example.org"},
	}}
	rec := &recorder{}
	return &Service{Store: m, Geo: geo, Audit: rec.audit}, m, rec
}

func set(t *testing.T, s *Service, r Rules) {
	t.Helper()
	if _, err := s.Set(context.Background(), Change{TenantID: "t", Rules: r, Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
}

type checkCase struct {
	user, addr string
	allowed    bool
}

func runChecks(t *testing.T, s *Service, cases []checkCase) {
	t.Helper()
	for _, c := range cases {
		err := s.Check(context.Background(), "t", c.user, mustAddr(t, c.addr))
		if c.allowed && err != nil {
			t.Errorf("%s at %s: refused: %v", c.user, c.addr, err)
		}
		if !c.allowed {
			var de *DeniedError
			if !errors.Is(err, ErrDenied) || !errors.Is(err, auth.ErrRefused) || !errors.As(err, &de) {
				t.Errorf("%s at %s: err = %v, want a refusal", c.user, c.addr, err)
			}
		}
	}
}

func TestCheckRanges(t *testing.T) {
	s, _, _ := newService(t, nil)
	// No rules at all: everything allowed.
	runChecks(t, s, []checkCase{{"alice", "192.0.2.1", true}, {"alice", "2001:db8::1", true}})

	set(t, s, Rules{Enabled: true, Ranges: prefixes(t, "192.0.2.0/24", "2001:db8:1::/48"),
		Exceptions: []Exception{{Email: "bob@example.org", Anywhere: true}, {Email: "alice@example.org", Ranges: prefixes(t, "198.51.100.7")}}})
	runChecks(t, s, []checkCase{
		{"admin", "192.0.2.200", true},        // allowed range
		{"admin", "192.0.3.1", false},         // denied by default once a range is set
		{"admin", "2001:db8:1:ffff::1", true}, // IPv6 range
		{"admin", "2001:db8:2::1", false},     // outside the IPv6 range
		{"admin", "::ffff:192.0.2.5", true},   // mapped address read as IPv4
		{"bob", "203.0.113.50", true},         // exception: anywhere
		{"alice", "198.51.100.7", true},       // exception: her own range
		{"alice", "192.0.2.9", true},          // and the tenant's
		{"alice", "198.51.100.8", false},      // but not beyond
		{"admin", "198.51.100.7", false},      // alice's range is hers only
		{"", "192.0.3.1", false},              // no user: no exception
	})

	err := s.Check(context.Background(), "t", "admin", mustAddr(t, "203.0.113.9"))
	if got, want := err.Error(), "Your address 203.0.113.9 is not allowed for this organisation."; got != want {
		t.Errorf("message %q, want %q", got, want)
	}

	// Disabled: everything allowed again, rules kept.
	set(t, s, Rules{Enabled: false, Ranges: prefixes(t, "192.0.2.0/24")})
	runChecks(t, s, []checkCase{{"admin", "192.0.3.1", true}})
	// Enabled with nothing in it: everything allowed.
	set(t, s, Rules{Enabled: true})
	runChecks(t, s, []checkCase{{"admin", "192.0.3.1", true}})
	// Another tenant is not affected.
	set(t, s, Rules{Enabled: true, Ranges: prefixes(t, "192.0.2.0/24")})
	if err := s.Check(context.Background(), "other", "admin", mustAddr(t, "192.0.3.1")); err != nil {
		t.Errorf("other tenant: %v", err)
	}
}

func TestCheckCountries(t *testing.T) {
	geo := openTestGeoIP(t)
	s, _, _ := newService(t, geo)

	set(t, s, Rules{Enabled: true, CountryMode: CountryAllow, Countries: []string{"DE"}})
	runChecks(t, s, []checkCase{
		{"admin", "203.0.113.9", true},    // DE
		{"admin", "2001:db8:de::9", true}, // DE over IPv6
		{"admin", "198.51.100.1", false},  // RU
		{"admin", "192.0.2.1", false},     // nowhere: an allow-list refuses it
	})
	err := s.Check(context.Background(), "t", "admin", mustAddr(t, "198.51.100.1"))
	if got, want := err.Error(), "Your address 198.51.100.1 (RU) is not allowed for this organisation."; got != want {
		t.Errorf("message %q, want %q", got, want)
	}

	// Allow-list with ranges: either lets in.
	set(t, s, Rules{Enabled: true, Ranges: prefixes(t, "192.0.2.0/24"), CountryMode: CountryAllow, Countries: []string{"DE"}})
	runChecks(t, s, []checkCase{{"admin", "192.0.2.1", true}, {"admin", "203.0.113.9", true}, {"admin", "198.51.100.1", false}})

	set(t, s, Rules{Enabled: true, CountryMode: CountryDeny, Countries: []string{"RU"},
		Exceptions: []Exception{{Email: "alice@example.org", Ranges: prefixes(t, "198.51.100.0/28")}}})
	runChecks(t, s, []checkCase{
		{"admin", "198.51.100.1", false}, // RU
		{"admin", "203.0.113.9", true},   // DE
		{"admin", "192.0.2.1", true},     // nowhere: a deny-list lets it in
		{"alice", "198.51.100.1", true},  // her own range beats the country rule
	})

	// Deny-list with ranges: ranges still deny by default.
	set(t, s, Rules{Enabled: true, Ranges: prefixes(t, "192.0.2.0/24"), CountryMode: CountryDeny, Countries: []string{"RU"}})
	runChecks(t, s, []checkCase{{"admin", "192.0.2.1", true}, {"admin", "203.0.113.9", false}})
}

func TestCountryRulesWithoutDatabase(t *testing.T) {
	s, _, _ := newService(t, nil)
	if s.CountriesEnforced() {
		t.Fatal("enforced without a database")
	}
	set(t, s, Rules{Enabled: true, CountryMode: CountryAllow, Countries: []string{"DE"}})
	runChecks(t, s, []checkCase{{"admin", "198.51.100.1", true}})
	set(t, s, Rules{Enabled: true, CountryMode: CountryDeny, Countries: []string{"RU"}})
	runChecks(t, s, []checkCase{{"admin", "198.51.100.1", true}})
	// Ranges are still enforced.
	set(t, s, Rules{Enabled: true, Ranges: prefixes(t, "192.0.2.0/24"), CountryMode: CountryAllow, Countries: []string{"RU"}})
	runChecks(t, s, []checkCase{{"admin", "198.51.100.1", false}, {"admin", "192.0.2.1", true}})
	if iso, ok := s.Country(mustAddr(t, "198.51.100.1")); ok || iso != "" {
		t.Errorf("Country without a database = %q", iso)
	}
}

func TestSet(t *testing.T) {
	s, m, rec := newService(t, nil)
	ctx := context.Background()
	admin := mustAddr(t, "192.0.2.10")

	// Rules that would refuse the admin making them are refused, unless forced.
	_, err := s.Set(ctx, Change{TenantID: "t", Rules: Rules{Enabled: true, Ranges: prefixes(t, "10.0.0.0/8")},
		Actor: "admin@example.org", ActorUserID: "admin", ActorAddr: admin})
	if !errors.Is(err, ErrLockout) || !strings.Contains(err.Error(), "192.0.2.10") {
		t.Fatalf("lockout: %v", err)
	}
	if len(m.rules) != 0 || len(rec.records) != 0 {
		t.Fatalf("refused change stored %v, audited %v", m.rules, rec.records)
	}
	if _, err := s.Set(ctx, Change{TenantID: "t", Rules: Rules{Enabled: true, Ranges: prefixes(t, "10.0.0.0/8")},
		Actor: "admin@example.org", ActorUserID: "admin", ActorAddr: admin, Force: true}); err != nil {
		t.Fatalf("forced: %v", err)
	}
	// An exception for oneself avoids the lockout.
	got, err := s.Set(ctx, Change{TenantID: "t", Rules: Rules{Enabled: true, Ranges: prefixes(t, "10.0.0.0/8"),
		CountryMode: CountryDeny, Countries: []string{"RU"},
		Exceptions: []Exception{{Email: "ADMIN@example.org", Ranges: prefixes(t, "192.0.2.0/24")}}},
		Actor: "admin@example.org", ActorUserID: "admin", ActorAddr: admin})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Exceptions) != 1 || got.Exceptions[0].UserID != "admin" || got.Exceptions[0].Email != "admin@example.org" ||
		got.UpdatedBy != "admin@example.org" {
		t.Errorf("stored %+v", got)
	}
	last := rec.records[len(rec.records)-1]
	want := auditRecord{"t", "firewall.changed", "admin@example.org", "", "192.0.2.10",
		"on; ranges: 10.0.0.0/8; countries: deny RU; exceptions: admin@example.org (192.0.2.0/24)"}
	if last != want {
		t.Errorf("audit %+v, want %+v", last, want)
	}

	for name, r := range map[string]Rules{
		"unknown user":         {Exceptions: []Exception{{Email: "nobody@example.org", Anywhere: true}}},
		"country mode":         {CountryMode: "maybe", Countries: []string{"DE"}},
		"mode without country": {CountryMode: CountryAllow},
	} {
		if _, err := s.Set(ctx, Change{TenantID: "t", Rules: r, Actor: "cli"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCacheAndInvalidation(t *testing.T) {
	s, m, _ := newService(t, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	ctx := context.Background()
	a := mustAddr(t, "192.0.3.1")
	for range 100 {
		if err := s.Check(ctx, "t", "admin", a); err != nil {
			t.Fatal(err)
		}
	}
	if m.reads != 1 {
		t.Errorf("100 checks read the store %d times, want 1", m.reads)
	}
	// A change in this process applies at once.
	set(t, s, Rules{Enabled: true, Ranges: prefixes(t, "192.0.2.0/24")})
	runChecks(t, s, []checkCase{{"admin", "192.0.3.1", false}})
	// A change elsewhere (another process, the command line) applies after the TTL.
	m.mu.Lock()
	m.rules["t"] = store.FirewallRules{TenantID: "t"}
	m.mu.Unlock()
	runChecks(t, s, []checkCase{{"admin", "192.0.3.1", false}})
	now = now.Add(DefaultTTL)
	runChecks(t, s, []checkCase{{"admin", "192.0.3.1", true}})
}

func TestGate(t *testing.T) {
	s, _, rec := newService(t, nil)
	set(t, s, Rules{Enabled: true, Ranges: prefixes(t, "192.0.2.0/24")})
	rec.records = nil
	r := httptest.NewRequest("POST", "/signin", nil)
	r.RemoteAddr = "198.51.100.4:5555"
	err := s.Gate(context.Background(), "t", "alice", r)
	if !errors.Is(err, auth.ErrRefused) {
		t.Fatalf("gate: %v", err)
	}
	want := []auditRecord{{"t", "signin.refused", "alice@example.org", "alice", "198.51.100.4", "firewall"}}
	if len(rec.records) != 1 || rec.records[0] != want[0] {
		t.Errorf("audit %+v, want %+v", rec.records, want)
	}
	// The resolved client address wins over RemoteAddr.
	r = r.WithContext(auth.WithClientAddr(r.Context(), mustAddr(t, "192.0.2.4")))
	if err := s.Gate(context.Background(), "t", "alice", r); err != nil {
		t.Errorf("gate from an allowed address: %v", err)
	}
}

func BenchmarkCheck(b *testing.B) {
	s := &Service{Store: &memStore{rules: map[string]store.FirewallRules{"t": {TenantID: "t", Enabled: true,
		Ranges: []string{"10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"}}}}}
	ctx := context.Background()
	a := netip.MustParseAddr("2001:db8::1")
	for b.Loop() {
		if err := s.Check(ctx, "t", "u", a); err != nil {
			b.Fatal(err)
		}
	}
}
