package server

import (
	"context"
	"net/http"
)

// firewallGate is the guard's firewall check, or nil when the firewall is not built in.
func (s *Server) firewallGate() func(ctx context.Context, tenantID, userID string, r *http.Request) error {
	if fw := s.Firewall(); fw != nil {
		return fw.CheckRequest
	}
	return nil
}
