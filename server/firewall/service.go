package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// DefaultTTL is how long a tenant's rules are cached.
const DefaultTTL = 5 * time.Second

// Store keeps the rules; *store.Store is one.
type Store interface {
	FirewallRules(ctx context.Context, tenantID string) (store.FirewallRules, error)
	SetFirewallRules(ctx context.Context, r store.FirewallRules) error
	UserByEmail(ctx context.Context, tenantID, email string) (store.User, error)
	User(ctx context.Context, tenantID, id string) (store.User, error)
}

// Service checks addresses against each tenant's rules and changes the rules.
type Service struct {
	Store Store
	// Geo, if set, enforces country rules; without it they are kept but not enforced.
	Geo Locator
	// Audit, if set, records changes ("firewall.changed") and refused sign-ins
	// ("signin.refused", detail "firewall"); (*auth.Accounts).Audit is one.
	Audit func(ctx context.Context, tenantID, action, actor, userID, ip, detail string) error
	// TTL is how long rules are cached; 0 means DefaultTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger

	mu    sync.RWMutex
	cache map[string]cached
	gen   uint64 // counts changes, so a load that raced one is not cached
}

type cached struct {
	rules *Rules
	until time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// CountriesEnforced reports whether country rules are enforced (a GeoIP database is
// configured).
func (s *Service) CountriesEnforced() bool { return s.Geo != nil }

// Country places addr in a country with the configured GeoIP database; ok is false
// without one.
func (s *Service) Country(addr netip.Addr) (iso string, ok bool) {
	if s.Geo == nil {
		return "", false
	}
	return s.Geo.Country(addr)
}

// Check returns nil when the tenant's rules allow the user at addr, a *DeniedError
// (wrapping ErrDenied) when they do not, or the store's error. It is meant for every
// request: the rules come from a per-tenant cache (TTL), so it reads the database at
// most once per tenant per TTL, and otherwise costs a map lookup and a scan of the
// tenant's ranges. userID may be empty (no exception applies).
func (s *Service) Check(ctx context.Context, tenantID, userID string, addr netip.Addr) error {
	r, err := s.cached(ctx, tenantID)
	if err != nil {
		return err
	}
	if d := r.decide(userID, addr, s.Geo); !d.allowed {
		return &DeniedError{Addr: addr, Country: d.country}
	}
	return nil
}

// CheckRequest is Check for the caller of r, at the address the server resolved for it
// (auth.ClientAddr); the API's guard and playback-URL issue call it on every request.
func (s *Service) CheckRequest(ctx context.Context, tenantID, userID string, r *http.Request) error {
	return s.Check(ctx, tenantID, userID, auth.ClientAddr(r))
}

// Gate checks a sign-in from r (see auth.Sessions.Gate) and records a refusal in the
// audit log as "signin.refused" with detail "firewall".
func (s *Service) Gate(ctx context.Context, tenantID, userID string, r *http.Request) error {
	var addr netip.Addr
	if r != nil {
		addr = auth.ClientAddr(r)
	}
	err := s.Check(ctx, tenantID, userID, addr)
	if errors.Is(err, ErrDenied) && s.Audit != nil {
		actor := userID
		if u, uerr := s.Store.User(ctx, tenantID, userID); uerr == nil {
			actor = u.Email
		}
		ip := ""
		if addr.IsValid() {
			ip = addr.String()
		}
		_ = s.Audit(ctx, tenantID, "signin.refused", actor, userID, ip, "firewall")
	}
	return err
}

func (s *Service) cached(ctx context.Context, tenantID string) (*Rules, error) {
	now := s.now()
	s.mu.RLock()
	c, ok := s.cache[tenantID]
	gen := s.gen
	s.mu.RUnlock()
	if ok && now.Before(c.until) {
		return c.rules, nil
	}
	r, err := s.load(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	s.mu.Lock()
	if s.gen == gen {
		if s.cache == nil {
			s.cache = map[string]cached{}
		}
		s.cache[tenantID] = cached{rules: &r, until: now.Add(ttl)}
	}
	s.mu.Unlock()
	return &r, nil
}

func (s *Service) load(ctx context.Context, tenantID string) (Rules, error) {
	sr, err := s.Store.FirewallRules(ctx, tenantID)
	if err != nil {
		return Rules{}, fmt.Errorf("firewall rules of tenant %s: %w", tenantID, err)
	}
	return fromStore(sr)
}

// Rules returns the tenant's rules as stored (not cached).
func (s *Service) Rules(ctx context.Context, tenantID string) (Rules, error) {
	return s.load(ctx, tenantID)
}

// Change is a change of a tenant's rules.
type Change struct {
	TenantID string
	Rules    Rules
	// Actor is who makes the change, for the audit log: an administrator's e-mail
	// address, or "cli".
	Actor string
	// ActorUserID and ActorAddr are the administrator making the change and the address
	// they are at; when both are set, rules that would refuse them are refused with
	// ErrLockout unless Force is set.
	ActorUserID string
	ActorAddr   netip.Addr
	// Force stores rules even if they lock out their author (the command line's
	// break-glass).
	Force bool
}

// Set replaces the tenant's rules. It finds the excepted users by e-mail address
// (ErrInvalid names one that does not exist), refuses rules that would lock out the
// administrator making them (ErrLockout) unless forced, stores them, drops this
// process's cached copy and records "firewall.changed" with a summary of the new rules.
func (s *Service) Set(ctx context.Context, c Change) (Rules, error) {
	r := c.Rules
	if r.CountryMode != "" && r.CountryMode != CountryAllow && r.CountryMode != CountryDeny {
		return Rules{}, invalid(fmt.Sprintf("The country mode must be allow, deny or none, not %s.", quoteIfOdd(r.CountryMode)))
	}
	if r.CountryMode != "" && len(r.Countries) == 0 {
		return Rules{}, invalid("A country rule needs at least one country.")
	}
	if r.CountryMode == "" {
		r.Countries = nil
	}
	r.Exceptions = append([]Exception(nil), r.Exceptions...)
	for i, e := range r.Exceptions {
		if e.UserID != "" {
			continue
		}
		u, err := s.Store.UserByEmail(ctx, c.TenantID, e.Email)
		if errors.Is(err, store.ErrNotFound) {
			return Rules{}, invalid(fmt.Sprintf("There is no user %s in this organisation to make an exception for.", quoteIfOdd(e.Email)))
		}
		if err != nil {
			return Rules{}, err
		}
		r.Exceptions[i].UserID, r.Exceptions[i].Email = u.ID, u.Email
	}
	if c.ActorUserID != "" && c.ActorAddr.IsValid() && !c.Force {
		if d := r.decide(c.ActorUserID, c.ActorAddr, s.Geo); !d.allowed {
			return Rules{}, &sentenceError{fmt.Sprintf("These rules would lock you out: your address %s would not be allowed. "+
				"Add a range that includes it, or an exception for yourself.", c.ActorAddr), ErrLockout}
		}
	}
	r.UpdatedBy = c.Actor
	if err := s.Store.SetFirewallRules(ctx, toStore(c.TenantID, r)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Rules{}, invalid("A user or the organisation vanished meanwhile; try again.")
		}
		return Rules{}, err
	}
	s.mu.Lock()
	s.gen++
	delete(s.cache, c.TenantID)
	s.mu.Unlock()
	stored, err := s.load(ctx, c.TenantID)
	if err != nil {
		return Rules{}, err
	}
	if s.Audit != nil {
		ip := ""
		if c.ActorAddr.IsValid() {
			ip = c.ActorAddr.String()
		}
		if err := s.Audit(ctx, c.TenantID, "firewall.changed", c.Actor, "", ip, stored.Summary()); err != nil && s.Log != nil {
			s.Log.Error("audit firewall change", "tenant", c.TenantID, "err", err)
		}
	}
	return stored, nil
}
