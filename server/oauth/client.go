package oauth

import (
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// RecorderClientID is the desktop recorder's client: public (it keeps no secret), signing
// its user in with the authorization code and PKCE on a loopback redirect, or the device
// grant.
const RecorderClientID = "aula-recorder"

// ScopeIngest is the one scope clients may ask for besides offline_access: upload
// recordings, as the API token scope of the same name.
const ScopeIngest = auth.ScopeIngest

// recorderRedirects are the loopback redirects the recorder may use; the port is the
// recorder's choice (RFC 8252 §7.3), which op allows for native clients.
var recorderRedirects = []string{"http://127.0.0.1/callback", "http://[::1]/callback"}

// client is an op.Client: the recorder or an enrolled agent.
type client struct {
	id    string
	agent bool
}

var _ op.Client = client{}

func (c client) GetID() string { return c.id }

func (c client) RedirectURIs() []string {
	if c.agent {
		return nil
	}
	return recorderRedirects
}

func (c client) PostLogoutRedirectURIs() []string { return nil }

func (c client) ApplicationType() op.ApplicationType {
	if c.agent {
		return op.ApplicationTypeWeb // confidential: it holds a secret
	}
	return op.ApplicationTypeNative
}

func (c client) AuthMethod() oidc.AuthMethod {
	if c.agent {
		return oidc.AuthMethodBasic
	}
	return oidc.AuthMethodNone
}

func (c client) ResponseTypes() []oidc.ResponseType {
	if c.agent {
		return nil
	}
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c client) GrantTypes() []oidc.GrantType {
	if c.agent {
		return []oidc.GrantType{oidc.GrantTypeClientCredentials}
	}
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeDeviceCode}
}

// LoginURL is the consent page, where a signed-in user approves the request.
func (c client) LoginURL(id string) string { return consentPath + "?id=" + id }

func (c client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }

func (c client) IDTokenLifetime() time.Duration { return 5 * time.Minute }

func (c client) DevMode() bool { return false }

func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c client) IsScopeAllowed(scope string) bool { return scope == ScopeIngest }

func (c client) IDTokenUserinfoClaimsAssertion() bool { return false }

func (c client) ClockSkew() time.Duration { return 0 }

// allowedScopes filters what a client asked for: ingest and, for the recorder,
// offline_access (a refresh token) and openid. Nothing asked means ingest; anything else
// is refused.
func allowedScopes(asked []string, agent bool) ([]string, error) {
	if len(asked) == 0 {
		return []string{ScopeIngest}, nil
	}
	var out []string
	for _, s := range asked {
		switch {
		case s == ScopeIngest, !agent && (s == oidc.ScopeOfflineAccess || s == oidc.ScopeOpenID):
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		default:
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not offered; ask for %q", s, ScopeIngest)
		}
	}
	if !slices.Contains(out, ScopeIngest) {
		out = append(out, ScopeIngest)
	}
	return out, nil
}

// Subjects: a user is "TENANT/USER"; an agent is its client ID, whose row names the
// tenant.
func userSubject(tenantID, userID string) string { return tenantID + "/" + userID }

// parseUserSubject splits a user's subject.
func parseUserSubject(sub string) (tenantID, userID string, ok bool) {
	tenantID, userID, ok = strings.Cut(sub, "/")
	if !ok || tenantID == "" || userID == "" || strings.Contains(userID, "/") {
		return "", "", false
	}
	return tenantID, userID, true
}

// validClientID reports whether id could name a client: the recorder, or an agent's
// "agent-" and a UUID. It keeps junk away from the store.
func validClientID(id string) bool {
	if id == RecorderClientID {
		return true
	}
	rest, ok := strings.CutPrefix(id, store.AgentClientPrefix)
	if !ok || len(rest) != 36 {
		return false
	}
	for i, r := range rest {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f':
		default:
			return false
		}
	}
	return true
}

// agentRequest is a client-credentials token request of an enrolled agent.
type agentRequest struct {
	tenantID, clientID string
	scopes             []string
}

func (r *agentRequest) GetSubject() string    { return r.clientID }
func (r *agentRequest) GetAudience() []string { return []string{r.clientID} }
func (r *agentRequest) GetScopes() []string   { return r.scopes }

// authRequest is an op.AuthRequest kept in the store.
type authRequest struct{ store.AuthRequest }

var _ op.AuthRequest = authRequest{}

func (a authRequest) GetID() string  { return a.ID }
func (a authRequest) GetACR() string { return "" }
func (a authRequest) GetAMR() []string {
	if a.AuthRequest.Done {
		return []string{"pwd"}
	}
	return nil
}
func (a authRequest) GetAudience() []string  { return []string{a.ClientID} }
func (a authRequest) GetAuthTime() time.Time { return a.AuthTime }
func (a authRequest) GetClientID() string    { return a.ClientID }
func (a authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethod(a.CodeMethod)}
}
func (a authRequest) GetNonce() string                   { return a.Nonce }
func (a authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.ResponseType) }
func (a authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.ResponseMode) }
func (a authRequest) GetScopes() []string                { return a.Scopes }
func (a authRequest) GetState() string                   { return a.State }
func (a authRequest) GetSubject() string {
	if !a.AuthRequest.Done {
		return ""
	}
	return userSubject(a.TenantID, a.UserID)
}
func (a authRequest) Done() bool { return a.AuthRequest.Done }

// refreshRequest is an op.RefreshTokenRequest of a stored refresh token.
type refreshRequest struct {
	store.RefreshToken
	scopes []string
}

func (r *refreshRequest) GetAMR() []string       { return []string{"pwd"} }
func (r *refreshRequest) GetAudience() []string  { return []string{r.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time { return r.AuthTime }
func (r *refreshRequest) GetClientID() string    { return r.ClientID }
func (r *refreshRequest) GetScopes() []string {
	if r.scopes != nil {
		return r.scopes
	}
	return r.Scopes
}
func (r *refreshRequest) GetSubject() string          { return userSubject(r.TenantID, r.UserID) }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }
