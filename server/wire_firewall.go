package server

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/firewall"
	"github.com/aulacapture/aula/server/web"
)

func init() {
	authz.Define("GET /api/v1/admin/firewall", authz.TenantAdmin)
	authz.Define("PUT /api/v1/admin/firewall", authz.TenantAdmin)
}

// serverFirewall is what startFirewall opens for one Server.
type serverFirewall struct {
	service *firewall.Service
	geo     *firewall.GeoIP
	client  func(http.Handler) http.Handler
}

// startFirewall loads what the firewall needs (trusted proxies, the GeoIP database);
// Open calls it before the routes are built.
func (s *Server) startFirewall() error {
	var trusted []netip.Prefix
	for _, p := range s.cfg.TrustedProxies {
		pfx, err := ParseTrustedProxy(p)
		if err != nil { // Validate checked them already
			return fmt.Errorf("%w: trusted_proxies: %q: %w", ErrConfig, p, err)
		}
		trusted = append(trusted, pfx)
	}
	fw := &serverFirewall{client: firewall.ClientAddress(trusted),
		service: &firewall.Service{Store: s.Meta, Audit: s.Accounts().Audit, Log: s.log}}
	if s.cfg.GeoIPDatabase != "" {
		geo, err := firewall.OpenGeoIP(s.cfg.GeoIPDatabase)
		if err != nil {
			return fmt.Errorf("%w: geoip_database: %w", ErrConfig, err)
		}
		fw.geo, fw.service.Geo = geo, geo
	} else {
		s.log.Info("no GeoIP database (geoip_database): firewall country rules are not enforced")
	}
	s.fw = fw
	return nil
}

func (s *Server) firewall() *serverFirewall { return s.fw }

// stopFirewall closes what startFirewall opened; Close calls it.
func (s *Server) stopFirewall() error {
	fw := s.fw
	s.fw = nil
	if fw == nil || fw.geo == nil {
		return nil
	}
	return fw.geo.Close()
}

// Firewall is the server's logical firewall (SECURITY §12). Its Check and
// CheckRequest are cheap enough for every request (rules cached per tenant); its Gate
// is auth.Sessions' Gate for sign-in.
func (s *Server) Firewall() *firewall.Service {
	if fw := s.firewall(); fw != nil {
		return fw.service
	}
	return nil
}

// clientAddress resolves each request's client address once (X-Forwarded-For only
// from trusted proxies) before anything else sees the request.
func (s *Server) clientAddress(next http.Handler) http.Handler {
	if fw := s.firewall(); fw != nil {
		return fw.client(next)
	}
	return next
}

// firewallRules is the firewall for the administrators' page, or nil.
func (s *Server) firewallRules() web.Firewall {
	if fw := s.Firewall(); fw != nil {
		return fw
	}
	return nil
}

// registerFirewallRoutes adds the firewall's API routes.
func (s *Server) registerFirewallRoutes(mux authz.Mux) {
	fw := s.Firewall()
	if fw == nil {
		return
	}
	api := &firewall.API{Service: fw}
	mux.HandleFunc("GET /api/v1/admin/firewall", api.Get)
	mux.HandleFunc("PUT /api/v1/admin/firewall", api.Put)
}

// firewallSignin is the firewall's check of every sign-in, for auth.Sessions' Gate.
//
//lint:ignore U1000 server.go sets it as the Gate of the Sessions it builds
func (s *Server) firewallSignin() func(ctx context.Context, tenantID, userID string, r *http.Request) error {
	if fw := s.Firewall(); fw != nil {
		return fw.Gate
	}
	return nil
}
