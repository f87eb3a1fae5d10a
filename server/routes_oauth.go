package server

import (
	"net/http"
	"path/filepath"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/oauth"
	"github.com/aulacapture/aula/server/problem"
)

// registerOAuth registers the server's own OAuth 2.0 authorization server, for agents
// and the desktop recorder (issue #5): op's endpoints under /oauth, the consent and
// device pages, and the enrollment API.
func (s *Server) registerOAuth(mux authz.Mux) {
	o, err := oauth.New(oauth.Options{
		Store:          s.Meta,
		Sessions:       &auth.Sessions{Store: s.Meta, Policies: s.Meta},
		Issuer:         s.cfg.OAuthIssuer,
		SigningKeyFile: filepath.Join(s.cfg.Data, "oauth-signing.pem"),
		DeviceInterval: time.Duration(s.cfg.OAuthDeviceIntervalSeconds) * time.Second,
		Log:            s.log,
	})
	if err != nil {
		// The rest of the server still works; OAuth answers why it does not.
		s.log.Error("OAuth authorization server disabled", "err", err)
		down := func(w http.ResponseWriter, r *http.Request) {
			problem.Write(w, r, http.StatusServiceUnavailable, "oauth-unavailable", "The OAuth authorization server could not start; see the server's log.")
		}
		mux.HandleFunc(oauth.Prefix+"/", down)
		mux.HandleFunc("POST "+oauth.EnrollPath, down)
		return
	}
	o.Register(mux)
}
