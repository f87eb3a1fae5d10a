package web

import "github.com/aulacapture/aula/server/authz"

// Firewall is what the firewall page reads and changes.
type Firewall interface{}

// registerFirewall adds the firewall page when h.Firewall is set.
func (h *Handler) registerFirewall(mux authz.Mux) {
	if h.Firewall == nil {
		return
	}
	_ = mux
}
