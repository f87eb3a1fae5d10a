package server

import (
	"net/http"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/vod"
	"github.com/aulacapture/aula/server/web"
)

// registerWeb registers the pages: sign-in (and single sign-on), recordings, player,
// account and admin pages.
func (s *Server) registerWeb(mux *http.ServeMux, sessions *auth.Sessions, signer *vod.Signer) {
	(&web.Handler{Meta: s.Meta, Users: s.Meta, Accounts: s.Accounts(), Sessions: sessions, Signer: signer, Log: s.log}).Register(mux)
}
