package web

import "github.com/aulacapture/aula/server/authz"

// The pages' rules (server/authz): sign-in steps and one's own account check the
// session's stage themselves; administrators' pages need the tenant's administrator;
// recordings need view on their folder.
func init() {
	for _, p := range []string{"GET /static/", "GET /{$}", "GET /signin", "POST /signin", "POST /signout",
		"GET /signin/sso", "POST /signin/sso", "GET /signin/sso/callback"} {
		authz.Define(p, authz.Public)
	}
	for _, p := range []string{"GET /signin/2fa", "POST /signin/2fa",
		"POST /signin/2fa/webauthn/begin", "POST /signin/2fa/webauthn/finish",
		"GET /account", "GET /account/password", "POST /account/password", "GET /account/2fa", "POST /account/2fa",
		"POST /account/2fa/recovery-codes", "GET /account/sessions", "POST /account/sessions/{id}/revoke",
		"POST /account/sessions/revoke-all", "GET /account/keepalive",
		"POST /account/2fa/webauthn/begin", "POST /account/2fa/webauthn/finish", "POST /account/2fa/webauthn/{id}/remove"} {
		authz.Define(p, authz.Account)
	}
	for _, p := range []string{"GET /admin/users", "POST /admin/users/{id}/{action}",
		"GET /admin/sso", "POST /admin/sso", "POST /admin/sso/remove", "GET /admin/groups"} {
		authz.Define(p, authz.TenantAdmin)
	}
	authz.Define("GET /recordings", authz.SignedIn)
	authz.Define("GET /recordings/{id}", authz.On(authz.ActView, authz.ObjectRecording))
}
