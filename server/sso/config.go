package sso

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Config is a tenant's OpenID Connect provider as an administrator sets it.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its discovery document
	// (ISSUER/.well-known/openid-configuration) names it. It must be https, except on a
	// loopback address (a provider on the same machine, or in tests).
	Issuer string
	// ClientID and ClientSecret are Aula's client at the provider. The secret is sealed
	// to the tenant's key at rest and never shown again; an empty secret when changing a
	// configuration keeps the stored one.
	ClientID     string
	ClientSecret string
	// Scopes are requested at every sign-in; "openid" is added when missing. Default:
	// openid email profile. Providers that give groups only on request need their scope
	// added (often "groups"); some refuse scopes they do not know, so none is guessed.
	Scopes []string
	// GroupClaim names the claim that lists the user's groups, read from the ID token or
	// else from the userinfo answer; empty means Aula does not map groups.
	GroupClaim string
	// EmailDomain, if set, sends people who type an address @EmailDomain on the sign-in
	// page to this provider. One tenant per domain.
	EmailDomain string
}

var (
	claimName  = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,100}$`)
	scopeToken = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,100}$`) // RFC 6749 §3.3
	domainName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// Normalized returns c with defaults filled in and the domain in lower case.
func (c Config) Normalized() Config {
	c.Issuer = strings.TrimSpace(c.Issuer)
	c.ClientID = strings.TrimSpace(c.ClientID)
	c.GroupClaim = strings.TrimSpace(c.GroupClaim)
	c.EmailDomain = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c.EmailDomain), "@")))
	var scopes []string
	for _, s := range c.Scopes {
		scopes = append(scopes, strings.Fields(s)...)
	}
	if len(scopes) == 0 {
		scopes = []string{"openid", "email", "profile"}
	}
	if !slices.Contains(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	c.Scopes = slices.Compact(scopes)
	return c
}

// Validate names the first field that cannot work. It does not contact the provider.
func (c Config) Validate() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...))
	}
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		return bad("issuer", "the provider's issuer URL is required")
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return bad("issuer", "%q is not an absolute URL without query or fragment", c.Issuer)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return bad("issuer", "must be https (http only for a provider on a loopback address)")
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("issuer", "must be https, not %q", u.Scheme)
	case c.ClientID == "" || len(c.ClientID) > 500:
		return bad("client_id", "the client ID at the provider is required (at most 500 characters)")
	case len(c.ClientSecret) > 4000:
		return bad("client_secret", "at most 4000 bytes")
	case c.GroupClaim != "" && !claimName.MatchString(c.GroupClaim):
		return bad("group_claim", "%q: letters, digits and _ . : / - only, at most 100", c.GroupClaim)
	case c.EmailDomain != "" && !domainName.MatchString(c.EmailDomain):
		return bad("email_domain", "%q is not a domain name such as uni.example", c.EmailDomain)
	case len(c.Scopes) > 20:
		return bad("scopes", "at most 20")
	}
	for _, s := range c.Scopes {
		if !scopeToken.MatchString(s) {
			return bad("scopes", "%q is not a scope", s)
		}
	}
	if !slices.Contains(c.Scopes, "openid") {
		return bad("scopes", "must include openid")
	}
	return nil
}

// loopback reports whether host is a loopback name or address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
