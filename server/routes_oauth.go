package server

import "net/http"

// registerOAuth registers the server's own OAuth 2.0 authorization server, for agents
// and the desktop recorder (issue #5). It has no routes yet.
func (s *Server) registerOAuth(mux *http.ServeMux) {}
