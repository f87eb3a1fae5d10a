package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// Country modes of Rules.
const (
	CountryAllow = store.CountryAllow // only the listed countries
	CountryDeny  = store.CountryDeny  // every country but the listed ones
)

// Rules are a tenant's firewall (see the package documentation for how they combine).
type Rules struct {
	Enabled bool
	// Ranges are the allowed address ranges; none means no range rule.
	Ranges []netip.Prefix
	// CountryMode is "", CountryAllow or CountryDeny, for Countries (ISO 3166-1
	// alpha-2 codes, upper case).
	CountryMode string
	Countries   []string
	Exceptions  []Exception
	// UpdatedAt and UpdatedBy say who changed the rules last; Set fills them in.
	UpdatedAt time.Time
	UpdatedBy string
}

// Exception lets one user in from anywhere, or from ranges of their own as well as the
// tenant's.
type Exception struct {
	// UserID names the user; Set finds it from Email when empty.
	UserID   string
	Email    string
	Anywhere bool
	Ranges   []netip.Prefix
}

// Active reports whether the rules restrict anything.
func (r Rules) Active() bool {
	return r.Enabled && (len(r.Ranges) > 0 || r.CountryMode != "")
}

// decision is the outcome of the rules for one user and address.
type decision struct {
	allowed bool
	country string // set when a country rule decided
}

// decide applies the rules. geo may be nil: country rules are then not enforced.
func (r *Rules) decide(userID string, addr netip.Addr, geo Locator) decision {
	if !r.Enabled {
		return decision{allowed: true}
	}
	var own []netip.Prefix
	for _, e := range r.Exceptions {
		if e.UserID == userID && userID != "" {
			if e.Anywhere {
				return decision{allowed: true}
			}
			own = e.Ranges
		}
	}
	if addr.IsValid() && (contains(r.Ranges, addr) || contains(own, addr)) {
		return decision{allowed: true}
	}
	country, known := "", false
	if geo != nil && r.CountryMode != "" && addr.IsValid() {
		country, known = geo.Country(addr)
	}
	listed := known && slices.Contains(r.Countries, country)
	switch {
	case geo != nil && r.CountryMode == CountryAllow:
		// An allow-list lets in the listed countries, on top of any ranges.
		return decision{allowed: listed, country: country}
	case len(r.Ranges) > 0:
		return decision{}
	case geo != nil && r.CountryMode == CountryDeny:
		return decision{allowed: !listed, country: country}
	}
	return decision{allowed: true}
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseRange reads one allowed range: a CIDR range, or a single address. IPv4-mapped
// IPv6 ranges are read as the IPv4 ranges they map, since client addresses are
// unmapped; host bits are cleared.
func ParseRange(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, invalid(fmt.Sprintf("%s is not a CIDR range", quoteIfOdd(s)))
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, invalid(fmt.Sprintf("%s mixes IPv4 and IPv6; give the IPv4 range", s))
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// ParseRangeLines reads ranges one per line, skipping blank lines and lines starting
// with "#". An error names the line: "line 3: 10.0.0.300/8 is not a CIDR range".
func ParseRangeLines(text string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, err := ParseRange(line)
		if err != nil {
			return nil, invalid(fmt.Sprintf("line %d: %s", i+1, err))
		}
		out = appendRange(out, p)
	}
	return out, nil
}

// ParseRangeList reads ranges given as a list; an error names the item of field by its
// position from 1: "ranges item 3: 10.0.0.300/8 is not a CIDR range".
func ParseRangeList(field string, items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range items {
		p, err := ParseRange(s)
		if err != nil {
			return nil, invalid(fmt.Sprintf("%s item %d: %s", field, i+1, err))
		}
		out = appendRange(out, p)
	}
	return out, nil
}

func appendRange(ps []netip.Prefix, p netip.Prefix) []netip.Prefix {
	if slices.Contains(ps, p) {
		return ps
	}
	return append(ps, p)
}

// ParseCountries reads ISO 3166-1 alpha-2 country codes separated by commas or
// spaces, in any case; it returns them in upper case without repeats.
func ParseCountries(text string) ([]string, error) {
	var out []string
	for _, c := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		if len(c) != 2 || !isLetter(c[0]) || !isLetter(c[1]) {
			return nil, invalid(fmt.Sprintf("%s is not a two-letter country code (such as DE or FR)", quoteIfOdd(c)))
		}
		c = strings.ToUpper(c)
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// ParseCountryMode checks a country mode: "", "allow" or "deny" (any case).
func ParseCountryMode(s string) (string, error) {
	switch m := strings.ToLower(strings.TrimSpace(s)); m {
	case "", "none", "off":
		return "", nil
	case CountryAllow, CountryDeny:
		return m, nil
	}
	return "", invalid(fmt.Sprintf("The country mode must be allow, deny or none, not %s.", quoteIfOdd(s)))
}

// ParseCountryRule reads the command line's form of a country rule, "allow:DE,FR",
// "deny:RU" or "none".
func ParseCountryRule(s string) (mode string, countries []string, err error) {
	m, list, _ := strings.Cut(s, ":")
	if mode, err = ParseCountryMode(m); err != nil {
		return "", nil, err
	}
	if countries, err = ParseCountries(list); err != nil {
		return "", nil, err
	}
	if mode != "" && len(countries) == 0 {
		return "", nil, invalid("Name at least one country after " + mode + ":, such as " + mode + ":DE.")
	}
	if mode == "" && len(countries) > 0 {
		return "", nil, invalid("Say allow: or deny: before the countries.")
	}
	return mode, countries, nil
}

// ParseExceptionLines reads per-user exceptions one per line: an e-mail address, then
// "anywhere" or the user's own ranges separated by spaces or commas. Blank lines and
// lines starting with "#" are skipped. Exceptions carry the e-mail only; Set finds the
// users.
func ParseExceptionLines(text string) ([]Exception, error) {
	var out []Exception
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
		if !strings.Contains(f[0], "@") {
			return nil, invalid(fmt.Sprintf("line %d: %s is not an e-mail address", i+1, quoteIfOdd(f[0])))
		}
		key := strings.ToLower(f[0])
		if seen[key] {
			return nil, invalid(fmt.Sprintf("line %d: %s has an exception already", i+1, f[0]))
		}
		seen[key] = true
		e := Exception{Email: f[0]}
		switch {
		case len(f) == 1:
			return nil, invalid(fmt.Sprintf("line %d: after %s give anywhere, or the ranges this user may also use", i+1, f[0]))
		case len(f) == 2 && strings.EqualFold(f[1], "anywhere"):
			e.Anywhere = true
		default:
			for _, s := range f[1:] {
				p, err := ParseRange(s)
				if err != nil {
					return nil, invalid(fmt.Sprintf("line %d: %s", i+1, err))
				}
				e.Ranges = appendRange(e.Ranges, p)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// FormatRanges writes ranges one per line, as ParseRangeLines reads them.
func FormatRanges(ps []netip.Prefix) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// FormatExceptions writes exceptions one per line, as ParseExceptionLines reads them.
func FormatExceptions(es []Exception) string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Email + " " + e.rangesText()
	}
	return strings.Join(lines, "\n")
}

func (e Exception) rangesText() string {
	if e.Anywhere {
		return "anywhere"
	}
	s := make([]string, len(e.Ranges))
	for i, p := range e.Ranges {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// Summary describes the rules in one line, for the audit log.
func (r Rules) Summary() string {
	var b strings.Builder
	if r.Enabled {
		b.WriteString("on")
	} else {
		b.WriteString("off")
	}
	b.WriteString("; ranges: ")
	if len(r.Ranges) == 0 {
		b.WriteString("none")
	}
	for i, p := range r.Ranges {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(p.String())
	}
	b.WriteString("; countries: ")
	if r.CountryMode == "" {
		b.WriteString("none")
	} else {
		b.WriteString(r.CountryMode + " " + strings.Join(r.Countries, ","))
	}
	b.WriteString("; exceptions: ")
	if len(r.Exceptions) == 0 {
		b.WriteString("none")
	}
	for i, e := range r.Exceptions {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.Email + " (" + e.rangesText() + ")")
	}
	return b.String()
}

// quoteIfOdd quotes s when it could be misread in a sentence (empty, or with spaces or
// control characters), and cuts it short when long.
func quoteIfOdd(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// fromStore parses stored rules; stored text that no longer parses is an error, since
// guessing could open the firewall.
func fromStore(s store.FirewallRules) (Rules, error) {
	r := Rules{Enabled: s.Enabled, CountryMode: s.CountryMode, Countries: s.Countries, UpdatedAt: s.UpdatedAt, UpdatedBy: s.UpdatedBy}
	var err error
	if r.Ranges, err = ParseRangeList("stored ranges", s.Ranges); err != nil {
		return Rules{}, fmt.Errorf("tenant %s firewall: %w", s.TenantID, err)
	}
	for _, e := range s.Exceptions {
		ps, err := ParseRangeList("stored exception ranges", e.Ranges)
		if err != nil {
			return Rules{}, fmt.Errorf("tenant %s firewall: %w", s.TenantID, err)
		}
		r.Exceptions = append(r.Exceptions, Exception{UserID: e.UserID, Email: e.Email, Anywhere: e.Anywhere, Ranges: ps})
	}
	return r, nil
}

func toStore(tenantID string, r Rules) store.FirewallRules {
	s := store.FirewallRules{TenantID: tenantID, Enabled: r.Enabled, CountryMode: r.CountryMode, Countries: r.Countries,
		UpdatedBy: r.UpdatedBy}
	for _, p := range r.Ranges {
		s.Ranges = append(s.Ranges, p.String())
	}
	for _, e := range r.Exceptions {
		se := store.FirewallException{UserID: e.UserID, Anywhere: e.Anywhere}
		for _, p := range e.Ranges {
			se.Ranges = append(se.Ranges, p.String())
		}
		s.Exceptions = append(s.Exceptions, se)
	}
	return s
}
