package server

import (
	"context"
	"errors"
	"net/netip"

	"github.com/aulacapture/aula/server/alert"
	"github.com/aulacapture/aula/server/audit"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/web"
)

// AuditAPIPath is the administrators' audit log API.
const AuditAPIPath = "GET /api/v1/admin/audit"

func init() {
	authz.Define(AuditAPIPath, authz.TenantAdmin)
}

// serverAudit is what startAudit starts for one Server.
type serverAudit struct {
	stream *audit.Stream // nil without an audit file or syslog
	alerts *alert.Engine
}

// startAudit starts the audit log's outputs (file, syslog) and alerts; Open calls it
// before the routes are built.
func (s *Server) startAudit() error {
	// The chain's key is derived from the master key, so every server of an
	// installation chains alike and the database alone cannot forge a record.
	s.Meta.SetAuditMAC(audit.MAC(s.Master.DeriveKey(audit.KeyPurpose)))
	a := &serverAudit{}
	var err error
	if a.stream, err = audit.OpenStream(audit.StreamOptions{File: s.cfg.AuditFile, Syslog: s.cfg.AuditSyslog, Log: s.log}); err != nil {
		return err
	}
	o := alert.Options{Audit: s.Meta, Log: s.log, Countries: serverCountries{s}, Webhook: s.cfg.AlertWebhook}
	if s.metrics != nil {
		o.Registerer = s.metrics.registry
	}
	if s.cfg.AlertWebhook != "" {
		o.WebhookSecret = []byte(s.cfg.AlertWebhookSecret)
	}
	if a.alerts, err = alert.Start(o); err != nil {
		if a.stream != nil {
			a.stream.Close()
		}
		return err
	}
	// The alerts' own records are streamed too: the stream is told after the engine.
	s.Meta.OnAudit(a.alerts.Observe)
	if a.stream != nil {
		s.Meta.OnAudit(a.stream.Observe)
	}
	s.aud = a
	return nil
}

// stopAudit flushes and closes what startAudit started; Close calls it. Alerts stop
// first, so their records reach the stream before it closes.
func (s *Server) stopAudit() error {
	a := s.aud
	s.aud = nil
	if a == nil {
		return nil
	}
	err := a.alerts.Close()
	if a.stream != nil {
		err = errors.Join(err, a.stream.Close())
	}
	return err
}

// serverCountries looks countries up in the firewall's GeoIP database, once
// startFirewall opened it (after startAudit); without one, no country is known and the
// new-country alert stays quiet.
type serverCountries struct{ s *Server }

func (c serverCountries) Country(addr netip.Addr) (string, bool) {
	if fw := c.s.Firewall(); fw != nil {
		return fw.Country(addr)
	}
	return "", false
}

// auditLog is the audit log for the administrators' page, or nil.
func (s *Server) auditLog() web.AuditLog { return s.Meta }

// registerAuditRoutes adds the audit log's API routes.
func (s *Server) registerAuditRoutes(mux authz.Mux) {
	mux.Handle(AuditAPIPath, audit.API{Log: s.Meta, Logger: s.log, Tenant: func(ctx context.Context) (string, bool) {
		p, ok := authz.PrincipalFrom(ctx)
		return p.TenantID, ok
	}})
}
