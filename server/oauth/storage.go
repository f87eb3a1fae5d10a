package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// storage is the op.Storage of the authorization server, on the metadata store. Every
// secret it hands out (access and refresh tokens, codes) is an Aula token kept only as a
// hash; access tokens are rows of the API-token table, so the ingest API's Bearer check
// accepts them unchanged.
type storage struct {
	st  Store
	key *ecdsa.PrivateKey
	kid string
	ttl ttls
	now func() time.Time
}

var (
	_ op.Storage                    = (*storage)(nil)
	_ op.ClientCredentialsStorage   = (*storage)(nil)
	_ op.DeviceAuthorizationStorage = (*storage)(nil)
)

// ttls are the lifetimes of what the server issues.
type ttls struct {
	access, refresh, request time.Duration
}

// errUnknownClient answers a client ID or secret that is not known, or revoked.
var errUnknownClient = errors.New("unknown or revoked client, or wrong secret")

// GetClientByClientID is the recorder, or an agent that is not revoked.
func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if id == RecorderClientID {
		return client{id: id}, nil
	}
	if _, err := s.agent(ctx, id); err != nil {
		return nil, err
	}
	return client{id: id, agent: true}, nil
}

// agent finds an agent's credential that is not revoked.
func (s *storage) agent(ctx context.Context, id string) (store.OAuthClient, error) {
	if !validClientID(id) || id == RecorderClientID {
		return store.OAuthClient{}, errUnknownClient
	}
	c, err := s.st.OAuthClientByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.OAuthClient{}, errUnknownClient
	}
	if err != nil {
		return store.OAuthClient{}, oidc.ErrServerError().WithParent(err)
	}
	if c.RevokedAt != nil {
		return store.OAuthClient{}, errUnknownClient
	}
	return c, nil
}

// AuthorizeClientIDSecret checks an agent's secret against its hash, in constant time.
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	_, err := s.agentWithSecret(ctx, id, secret)
	return err
}

func (s *storage) agentWithSecret(ctx context.Context, id, secret string) (store.OAuthClient, error) {
	c, err := s.agent(ctx, id)
	if err != nil {
		return c, err
	}
	if _, ok := auth.ParseToken(secret); !ok || subtle.ConstantTimeCompare(auth.HashToken(secret), c.SecretHash) != 1 {
		return store.OAuthClient{}, errUnknownClient
	}
	return c, nil
}

// ClientCredentials authenticates an agent for the client-credentials grant.
func (s *storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if _, err := s.agentWithSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	return client{id: id, agent: true}, nil
}

// ClientCredentialsTokenRequest binds the token to the agent and its tenant; the only
// scope is ingest.
func (s *storage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, err := s.agent(ctx, id)
	if err != nil {
		return nil, err
	}
	scopes, err = allowedScopes(scopes, true)
	if err != nil {
		return nil, err
	}
	return &agentRequest{tenantID: c.TenantID, clientID: c.ID, scopes: scopes}, nil
}

// CreateAuthRequest stores a request of the recorder, which must use PKCE with S256.
func (s *storage) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if r.ClientID != RecorderClientID {
		return nil, oidc.ErrUnauthorizedClient()
	}
	if len(r.Prompt) == 1 && r.Prompt[0] == oidc.PromptNone {
		return nil, oidc.ErrLoginRequired()
	}
	if r.CodeChallenge == "" || r.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method S256 is required")
	}
	scopes, err := allowedScopes(r.Scopes, false)
	if err != nil {
		return nil, err
	}
	now := s.now()
	a, err := s.st.CreateAuthRequest(ctx, store.AuthRequest{ClientID: r.ClientID, RedirectURI: r.RedirectURI, State: r.State,
		Nonce: r.Nonce, Scopes: scopes, ResponseType: string(r.ResponseType), ResponseMode: string(r.ResponseMode),
		CodeChallenge: r.CodeChallenge, CodeMethod: string(r.CodeChallengeMethod), CreatedAt: now, ExpiresAt: now.Add(s.ttl.request)})
	if err != nil {
		return nil, err
	}
	return authRequest{a}, nil
}

// AuthRequestByID finds an unexpired request.
func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, err := s.st.AuthRequestByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.now().Before(a.ExpiresAt) {
		return nil, fmt.Errorf("auth request %s: %w", id, store.ErrExpired)
	}
	return authRequest{a}, nil
}

// AuthRequestByCode finds the approved, unexpired request whose code this is.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	if _, ok := auth.ParseToken(code); !ok {
		return nil, errors.New("malformed code")
	}
	a, err := s.st.AuthRequestByCodeHash(ctx, auth.HashToken(code))
	if err != nil {
		return nil, err
	}
	if !a.Done || !s.now().Before(a.ExpiresAt) {
		return nil, fmt.Errorf("authorization code: %w", store.ErrExpired)
	}
	return authRequest{a}, nil
}

// SaveAuthCode keeps the hash of the code that tokenCrypto made.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.st.SaveAuthCode(ctx, id, auth.HashToken(code))
}

func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.st.DeleteAuthRequest(ctx, id)
}

// issue stores a new access token for the tenant's user (or agent, with no user) and
// returns it: the secret is the "ID" op passes to tokenCrypto.Encrypt, which hands it to
// the client as it is.
func (s *storage) issue(ctx context.Context, tenantID, userID, clientID string) (string, time.Time, error) {
	tok, hash, err := auth.NewToken()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	t, err := s.st.CreateClientToken(ctx, store.Token{TenantID: tenantID, UserID: userID, Hash: hash, Scope: ScopeIngest,
		CreatedAt: now, ExpiresAt: now.Add(s.ttl.access)}, clientID)
	if errors.Is(err, store.ErrRevoked) || errors.Is(err, store.ErrNotFound) {
		return "", time.Time{}, oidc.ErrInvalidClient().WithDescription("the client was revoked").WithParent(err)
	}
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, t.ExpiresAt, nil
}

// owner says whose tokens a request asks for. An authorization request is consumed here,
// so its code yields tokens once even when exchanged twice at the same moment.
func (s *storage) owner(ctx context.Context, r op.TokenRequest) (tenantID, userID, clientID string, err error) {
	switch r := r.(type) {
	case *agentRequest:
		return r.tenantID, "", r.clientID, nil
	case authRequest:
		if err := s.st.ConsumeAuthRequest(ctx, r.ID); err != nil {
			return "", "", "", oidc.ErrInvalidGrant().WithDescription("the code was used already").WithParent(err)
		}
		return r.TenantID, r.UserID, r.ClientID, nil
	case *op.DeviceAuthorizationState:
		t, u, ok := parseUserSubject(r.Subject)
		if !ok {
			return "", "", "", fmt.Errorf("device state without user")
		}
		return t, u, r.ClientID, nil
	case *refreshRequest:
		return r.TenantID, r.UserID, r.ClientID, nil
	}
	return "", "", "", oidc.ErrUnsupportedGrantType()
}

// CreateAccessToken issues an access token (client credentials, or a code or device
// grant without offline_access).
func (s *storage) CreateAccessToken(ctx context.Context, r op.TokenRequest) (string, time.Time, error) {
	tenantID, userID, clientID, err := s.owner(ctx, r)
	if err != nil {
		return "", time.Time{}, err
	}
	return s.issue(ctx, tenantID, userID, clientID)
}

// CreateAccessAndRefreshTokens issues an access token and a refresh token: the first of a
// new family after a code or device grant with offline_access, or the next one of the
// family when current is used (and so spent).
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	tenantID, userID, clientID, err := s.owner(ctx, r)
	if err != nil {
		return "", "", time.Time{}, err
	}
	refresh, hash, err := auth.NewToken()
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := s.now()
	next := store.RefreshToken{TenantID: tenantID, UserID: userID, ClientID: clientID, Hash: hash, Scopes: r.GetScopes(),
		CreatedAt: now, ExpiresAt: now.Add(s.ttl.refresh)}
	if current == "" {
		next.AuthTime = now
		if at, ok := r.(interface{ GetAuthTime() time.Time }); ok && !at.GetAuthTime().IsZero() {
			next.AuthTime = at.GetAuthTime()
		}
		_, err = s.st.CreateRefreshToken(ctx, next)
	} else {
		if _, ok := auth.ParseToken(current); !ok {
			return "", "", time.Time{}, oidc.ErrInvalidGrant()
		}
		_, err = s.st.RotateRefreshToken(ctx, auth.HashToken(current), next, now)
	}
	if err != nil {
		if errors.Is(err, store.ErrUsed) || errors.Is(err, store.ErrRevoked) || errors.Is(err, store.ErrExpired) || errors.Is(err, store.ErrNotFound) {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token was used, revoked or expired").WithParent(err)
		}
		return "", "", time.Time{}, err
	}
	access, exp, err := s.issue(ctx, tenantID, userID, clientID)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return access, refresh, exp, nil
}

// TokenRequestByRefreshToken finds a live refresh token. One used before means a copy was
// stolen: its whole family is revoked.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	if _, ok := auth.ParseToken(token); !ok {
		return nil, op.ErrInvalidRefreshToken
	}
	t, err := s.st.RefreshTokenByHash(ctx, auth.HashToken(token))
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case t.RevokedAt != nil:
		return nil, fmt.Errorf("refresh token: %w", store.ErrRevoked)
	case t.UsedAt != nil:
		if err := s.st.RevokeRefreshFamily(ctx, t.TenantID, t.Family, now); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("refresh token: %w", store.ErrUsed)
	case !now.Before(t.ExpiresAt):
		return nil, fmt.Errorf("refresh token: %w", store.ErrExpired)
	}
	// A locked account keeps no sign-in, here as on the web pages, and an account that
	// may no longer record keeps no recorder.
	u, err := s.st.User(ctx, t.TenantID, t.UserID)
	if err != nil {
		return nil, err
	}
	if u.LockedAt != nil || !mayRecord(u) {
		if err := s.st.RevokeRefreshFamily(ctx, t.TenantID, t.Family, now); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("refresh token of a locked account or a viewer: %w", store.ErrRevoked)
	}
	return &refreshRequest{RefreshToken: t}, nil
}

// TerminateSession ends nothing: the end-session endpoint is not offered to our clients.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// GetRefreshTokenInfo names the user and ID of one of clientID's refresh tokens.
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	if _, ok := auth.ParseToken(token); !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	t, err := s.st.RefreshTokenByHash(ctx, auth.HashToken(token))
	if err != nil || t.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	// op passes this "ID" on to RevokeToken, which revokes the whole family.
	return userSubject(t.TenantID, t.UserID), familyPrefix + t.TenantID + "/" + t.Family, nil
}

// familyPrefix marks a refresh token family in what GetRefreshTokenInfo hands op.
const familyPrefix = "family:"

// RevokeToken revokes a refresh token's family (named by GetRefreshTokenInfo, or the
// token itself), or one access token by its ID (RFC 7009).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, subject, clientID string) *oidc.Error {
	now := s.now()
	if _, ok := auth.ParseToken(tokenOrID); ok {
		t, err := s.st.RefreshTokenByHash(ctx, auth.HashToken(tokenOrID))
		if err != nil {
			return nil // unknown tokens count as revoked (RFC 7009 §2.2)
		}
		if t.ClientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
		}
		if err := s.st.RevokeRefreshFamily(ctx, t.TenantID, t.Family, now); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	}
	if fam, ok := strings.CutPrefix(tokenOrID, familyPrefix); ok {
		tenantID, family, ok := strings.Cut(fam, "/")
		if !ok {
			return oidc.ErrInvalidRequest()
		}
		if err := s.st.RevokeRefreshFamily(ctx, tenantID, family, now); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	}
	tenantID, _, ok := parseUserSubject(subject)
	if !ok {
		c, err := s.st.OAuthClientByID(ctx, subject)
		if err != nil {
			return nil
		}
		tenantID = c.TenantID
	}
	if err := s.st.RevokeToken(ctx, tenantID, tokenOrID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// The signing key signs ID tokens only: access tokens are opaque.
type signingKey struct {
	key *ecdsa.PrivateKey
	kid string
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.kid }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{s.key, s.kid}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{signingKey{s.key, s.kid}}}, nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, _, subject, _ string) error {
	info.Subject = subject
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, r *oidc.IntrospectionResponse, _, subject, clientID string) error {
	r.Active = true
	r.Subject = subject
	r.ClientID = clientID
	r.Scope = oidc.SpaceDelimitedArray{ScopeIngest}
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// The JWT profile grant is not offered.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}

func (s *storage) Health(ctx context.Context) error { return s.st.Ping(ctx) }

// StoreDeviceAuthorization keeps a device request of the recorder; the device code only
// as a hash.
func (s *storage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	if clientID != RecorderClientID {
		return oidc.ErrUnauthorizedClient()
	}
	scopes, err := allowedScopes(scopes, false)
	if err != nil {
		return err
	}
	err = s.st.CreateDeviceCode(ctx, store.DeviceCode{DeviceHash: auth.HashToken(deviceCode), UserCode: userCode, ClientID: clientID,
		Scopes: scopes, CreatedAt: s.now(), ExpiresAt: expires})
	if errors.Is(err, store.ErrExists) {
		return op.ErrDuplicateUserCode
	}
	return err
}

// GetDeviceAuthorizatonState answers the device's poll; an approved request is consumed
// as it is answered, so it yields tokens once.
func (s *storage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	if deviceCode == "" || len(deviceCode) > 128 || strings.ContainsAny(deviceCode, " \t\r\n") {
		return nil, errors.New("malformed device code")
	}
	d, err := s.st.PollDeviceCode(ctx, clientID, auth.HashToken(deviceCode))
	if err != nil {
		return nil, err
	}
	st := &op.DeviceAuthorizationState{ClientID: d.ClientID, Scopes: d.Scopes, Expires: d.ExpiresAt}
	switch d.State {
	case store.DeviceDenied:
		st.Denied = true
	case store.DeviceApproved:
		st.Done = true
		st.Subject = userSubject(d.TenantID, d.UserID)
		st.AuthTime = d.AuthTime
		st.AMR = []string{"pwd"}
	}
	return st, nil
}
