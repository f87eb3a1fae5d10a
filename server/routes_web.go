package server

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/sso"
	"github.com/aulacapture/aula/server/vod"
	"github.com/aulacapture/aula/server/web"
)

// registerWeb registers the pages: sign-in (and single sign-on), recordings, player,
// account and admin pages.
func (s *Server) registerWeb(mux authz.Mux, sessions *auth.Sessions, signer *vod.Signer) {
	(&web.Handler{Meta: s.Meta, Authorizer: s.Authorizer(), Users: s.Meta, Accounts: s.Accounts(), Sessions: sessions, Signer: signer, Log: s.log,
		SSO: s.NewSSO(), RedirectURI: s.ssoRedirectURI, Groups: s.Meta,
		Passkeys: &auth.Passkeys{Store: s.Meta, Accounts: s.Accounts()}, WebAuthnRP: s.webauthnRP,
		AuditLog: s.auditLog(), Firewall: s.firewallRules(), Folders: s.Meta, Agents: s.Meta}).Register(mux)
}

// NewSSO returns single sign-on with each tenant's OpenID Connect provider, on the
// server's stores and keys, for the pages (made once, with the routes) and the command
// line.
func (s *Server) NewSSO() *sso.Service {
	return &sso.Service{Store: s.Meta, Sealer: auth.TenantSealer{Keys: s.Keys, Tenants: s.Meta}, Audit: s.Accounts(), Log: s.log}
}

// errHost refuses a request whose Host is not one of the configured hosts.
var errHost = errors.New("host not configured")

// SSOCallbackPath is where identity providers send the browser back.
const SSOCallbackPath = "/signin/sso/callback"

// ssoRedirectURI is the exact redirect URI for a sign-in begun by r: https, r's host
// name only if it is one of the configured hosts, and the port the server listens on
// (the listener's, never the Host header's). Providers compare redirect URIs exactly,
// so an administrator registers https://HOST:PORT/signin/sso/callback for each host.
func (s *Server) ssoRedirectURI(r *http.Request) (string, error) {
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	ok := false
	for _, h := range s.cfg.Hosts {
		if strings.EqualFold(h, host) {
			ok = true
			break
		}
	}
	if !ok || host == "" {
		return "", errHost
	}
	port := ""
	if a, isAddr := r.Context().Value(http.LocalAddrContextKey).(net.Addr); isAddr {
		_, port, _ = net.SplitHostPort(a.String())
	}
	if port == "" {
		_, port, _ = net.SplitHostPort(s.cfg.Listen)
	}
	if port == "" || port == "0" {
		return "", errHost
	}
	if port == "443" {
		if strings.Contains(host, ":") {
			return "https://[" + host + "]" + SSOCallbackPath, nil
		}
		return "https://" + host + SSOCallbackPath, nil
	}
	return "https://" + net.JoinHostPort(host, port) + SSOCallbackPath, nil
}

// webauthnRP is the WebAuthn relying party at the address r came to: the host name as
// the RP ID, if it is one of the configured hosts, and the exact origin
// https://HOST:PORT with the port the server listens on (none for 443), as browsers
// report it in clientDataJSON.
func (s *Server) webauthnRP(r *http.Request) (auth.RP, error) {
	uri, err := s.ssoRedirectURI(r)
	if err != nil {
		return auth.RP{}, err
	}
	origin := strings.TrimSuffix(uri, SSOCallbackPath)
	u, err := url.Parse(origin)
	if err != nil || u.Hostname() == "" {
		return auth.RP{}, errHost
	}
	return auth.RP{ID: u.Hostname(), Origin: origin}, nil
}
