package server

import (
	"net/http"

	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/web"
)

// startFirewall loads what the firewall needs (trusted proxies, the GeoIP database);
// Open calls it before the routes are built.
func (s *Server) startFirewall() error { return nil }

// stopFirewall closes what startFirewall opened; Close calls it.
func (s *Server) stopFirewall() error { return nil }

// clientAddress resolves each request's client address once (X-Forwarded-For only
// from trusted proxies) before anything else sees the request.
func (s *Server) clientAddress(next http.Handler) http.Handler { return next }

// firewallRules is the firewall for the administrators' page, or nil.
func (s *Server) firewallRules() web.Firewall { return nil }

// registerFirewallRoutes adds the firewall's API routes.
func (s *Server) registerFirewallRoutes(mux authz.Mux) { _ = mux }
