// Package sso is single sign-on with OpenID Connect, one identity provider per tenant:
// the authorization code flow with PKCE, state and nonce, ID tokens checked for issuer,
// audience, signature and expiry, accounts linked by (issuer, subject), made on first
// sign-in, and the provider's group claim mapped to the tenant's groups at every
// sign-in.
//
// The package knows nothing of pages: the web package calls Begin and Finish and starts
// the session. A second factor, where one is wanted, is the provider's business.
//
// # Caveats
//
// A browser has one sign-in in flight at a time: beginning another replaces the cookie,
// so the first one's callback is refused. Discovery documents and key sets are cached
// per issuer for an hour.
package sso

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// Store is the part of the metadata store that single sign-on needs; *store.Store is one.
type Store interface {
	SSOConfig(ctx context.Context, tenantID string) (store.SSOConfig, error)
	SSOConfigByDomain(ctx context.Context, domain string) (store.SSOConfig, error)
	PutSSOConfig(ctx context.Context, c store.SSOConfig) (store.SSOConfig, error)
	DeleteSSOConfig(ctx context.Context, tenantID string) error
	CreateSSOLogin(ctx context.Context, l store.SSOLogin, maxPending int) error
	TakeSSOLogin(ctx context.Context, tenantID string, stateHash []byte) (store.SSOLogin, error)
	UserBySSOIdentity(ctx context.Context, tenantID, issuer, subject string) (store.User, error)
	ProvisionSSOUser(ctx context.Context, u store.User, issuer, subject string) (store.User, error)
	TouchSSOIdentity(ctx context.Context, tenantID, issuer, subject string, at time.Time) error
	SyncGroups(ctx context.Context, tenantID, userID, source string, names []string) (added, removed []string, err error)
}

// Auditor records security events; *auth.Accounts is one.
type Auditor interface {
	Audit(ctx context.Context, tenantID, action, actor, userID, ip, detail string) error
}

// Service configures tenants' providers and signs people in through them.
type Service struct {
	Store  Store
	Sealer auth.Sealer
	Audit  Auditor
	// Client talks to the providers; nil means one with a 15-second timeout.
	Client *http.Client
	// MaxPending caps a tenant's sign-ins begun and not yet back (ErrBusy beyond);
	// 0 means DefaultMaxPending.
	MaxPending int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger

	mu        sync.Mutex
	providers map[string]cachedProvider
}

type cachedProvider struct {
	p       *oidc.Provider
	fetched time.Time
}

// DefaultMaxPending is how many sign-ins a tenant may have at its provider at once.
// Each lives FlowTimeout, so it allows about 16 new ones a second, sustained.
const DefaultMaxPending = 10000

// providerTTL is how long a discovery document is trusted before it is read again.
const providerTTL = time.Hour

// Limits on what a provider's claims may bring.
const (
	maxGroups    = 200
	maxGroupName = 200
	maxEmail     = 320
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

var defaultClient = &http.Client{Timeout: 15 * time.Second}

// context returns ctx carrying the HTTP client for go-oidc and x/oauth2.
func (s *Service) context(ctx context.Context) context.Context {
	c := s.Client
	if c == nil {
		c = defaultClient
	}
	return oidc.ClientContext(ctx, c)
}

// provider returns the issuer's discovered provider, from the cache when fresh.
func (s *Service) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	s.mu.Lock()
	c, ok := s.providers[issuer]
	s.mu.Unlock()
	if ok && s.now().Sub(c.fetched) < providerTTL {
		return c.p, nil
	}
	p, err := oidc.NewProvider(s.context(ctx), issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrProvider, issuer, err)
	}
	s.mu.Lock()
	if s.providers == nil {
		s.providers = map[string]cachedProvider{}
	}
	s.providers[issuer] = cachedProvider{p: p, fetched: s.now()}
	s.mu.Unlock()
	return p, nil
}

// forget drops the issuer's cached discovery, after a failure that a newer document may
// cure (rotated keys, moved endpoints).
func (s *Service) forget(issuer string) {
	s.mu.Lock()
	delete(s.providers, issuer)
	s.mu.Unlock()
}

// Configure validates c and stores it as the tenant's provider, the client secret
// sealed to the tenant's key. An empty secret keeps the stored one. With check, the
// provider's discovery document must answer first, so a typing error shows at once.
func (s *Service) Configure(ctx context.Context, tenantID string, c Config, check bool, actor string) (Config, error) {
	c = c.Normalized()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	var sealed []byte
	if c.ClientSecret == "" {
		old, err := s.Store.SSOConfig(ctx, tenantID)
		if errors.Is(err, store.ErrNotFound) {
			return Config{}, fmt.Errorf("%w: client_secret: the client secret is required", ErrConfig)
		}
		if err != nil {
			return Config{}, err
		}
		sealed = old.SealedSecret
	} else {
		var err error
		if sealed, err = s.Sealer.Seal(ctx, tenantID, []byte(c.ClientSecret)); err != nil {
			return Config{}, fmt.Errorf("seal client secret: %w", err)
		}
	}
	if check {
		s.forget(c.Issuer)
		if _, err := s.provider(ctx, c.Issuer); err != nil {
			return Config{}, err
		}
	}
	_, err := s.Store.PutSSOConfig(ctx, store.SSOConfig{TenantID: tenantID, Issuer: c.Issuer, ClientID: c.ClientID,
		SealedSecret: sealed, Scopes: c.Scopes, GroupClaim: c.GroupClaim, EmailDomain: c.EmailDomain, UpdatedAt: s.now()})
	if errors.Is(err, store.ErrExists) {
		return Config{}, fmt.Errorf("%w: email_domain: %q is another tenant's", ErrConfig, c.EmailDomain)
	}
	if err != nil {
		return Config{}, err
	}
	s.audit(ctx, tenantID, "sso.configured", actor, "", "", fmt.Sprintf("issuer %s client %s domain %q group claim %q",
		c.Issuer, c.ClientID, c.EmailDomain, c.GroupClaim))
	c.ClientSecret = ""
	return c, nil
}

// Config returns the tenant's provider without its secret, or ErrNotConfigured.
func (s *Service) Config(ctx context.Context, tenantID string) (Config, error) {
	sc, err := s.Store.SSOConfig(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		return Config{}, ErrNotConfigured
	}
	if err != nil {
		return Config{}, err
	}
	return Config{Issuer: sc.Issuer, ClientID: sc.ClientID, Scopes: sc.Scopes, GroupClaim: sc.GroupClaim, EmailDomain: sc.EmailDomain}, nil
}

// Remove ends single sign-on for the tenant. Accounts and their links stay, so the same
// provider configured again finds its people again.
func (s *Service) Remove(ctx context.Context, tenantID, actor string) error {
	err := s.Store.DeleteSSOConfig(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotConfigured
	}
	if err != nil {
		return err
	}
	s.audit(ctx, tenantID, "sso.removed", actor, "", "", "")
	return nil
}

// TenantForEmail returns the tenant whose provider serves the e-mail address's domain.
func (s *Service) TenantForEmail(ctx context.Context, email string) (string, error) {
	_, domain, ok := strings.Cut(strings.TrimSpace(email), "@")
	if !ok {
		domain = strings.TrimSpace(email) // a bare domain
	}
	domain = strings.ToLower(domain)
	if domain == "" || strings.Contains(domain, "@") || len(domain) > 253 {
		return "", ErrNotConfigured
	}
	c, err := s.Store.SSOConfigByDomain(ctx, domain)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNotConfigured
	}
	if err != nil {
		return "", err
	}
	return c.TenantID, nil
}

// oauthConfig is the tenant's client at the provider, with its secret opened.
func (s *Service) oauthConfig(ctx context.Context, sc store.SSOConfig, p *oidc.Provider, redirectURI string) (*oauth2.Config, error) {
	secret, err := s.Sealer.Open(ctx, sc.TenantID, sc.SealedSecret)
	if err != nil {
		return nil, fmt.Errorf("open client secret: %w", err)
	}
	return &oauth2.Config{ClientID: sc.ClientID, ClientSecret: string(secret), Endpoint: p.Endpoint(),
		RedirectURL: redirectURI, Scopes: sc.Scopes}, nil
}

// Begin starts a sign-in at the tenant's provider. It stores a new state with its nonce
// and PKCE verifier, sets the cookie that binds them to this browser, and returns the
// provider's URL to send the browser to. redirectURI is the exact callback URL the
// provider will return to; the caller builds it from the server's configuration.
func (s *Service) Begin(ctx context.Context, w http.ResponseWriter, tenantID, redirectURI string) (string, error) {
	sc, err := s.Store.SSOConfig(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNotConfigured
	}
	if err != nil {
		return "", err
	}
	p, err := s.provider(ctx, sc.Issuer)
	if err != nil {
		return "", err
	}
	oc, err := s.oauthConfig(ctx, sc, p, redirectURI)
	if err != nil {
		return "", err
	}
	state, err := newSecret()
	if err != nil {
		return "", err
	}
	nonce, err := newSecret()
	if err != nil {
		return "", err
	}
	browser, err := newSecret()
	if err != nil {
		return "", err
	}
	verifier := oauth2.GenerateVerifier()
	now := s.now()
	if err := s.Store.CreateSSOLogin(ctx, store.SSOLogin{TenantID: tenantID, StateHash: hashSecret(state),
		BrowserHash: hashSecret(browser), Nonce: nonce, Verifier: verifier, RedirectURI: redirectURI,
		CreatedAt: now, ExpiresAt: now.Add(FlowTimeout)}, cmp.Or(s.MaxPending, DefaultMaxPending)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return "", err
	}
	http.SetCookie(w, flowCookie(FlowCookie{TenantID: tenantID, Secret: browser}))
	to := oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	// The endpoint comes from the provider's discovery document; the browser is sent
	// only to a web address.
	if u, err := url.Parse(to); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		return "", fmt.Errorf("%w: authorization endpoint %q is not an https URL", ErrProvider, p.Endpoint().AuthURL)
	}
	return to, nil
}

// Finish completes the sign-in the provider sent the browser back from: r is the
// callback request with its cookie and query. It takes the state (once), exchanges the
// code with the PKCE verifier, checks the ID token and its nonce, finds or makes the
// account, maps the groups and returns the user, who may then be given a session. The
// caller clears the cookie whatever the outcome.
func (s *Service) Finish(ctx context.Context, r *http.Request, ip string) (store.User, error) {
	fc, ok := cookieOf(r)
	if !ok {
		return store.User{}, fmt.Errorf("%w: no sign-in cookie", ErrFlow)
	}
	u, err := s.finish(ctx, fc, r.URL.Query())
	if err != nil {
		detail := err.Error()
		if len(detail) > 300 {
			detail = detail[:300]
		}
		s.audit(ctx, fc.TenantID, "signin.sso_refused", "sso", u.ID, ip, detail)
		return u, err
	}
	s.audit(ctx, u.TenantID, "signin", u.Email, u.ID, ip, "single sign-on")
	return u, nil
}

func (s *Service) finish(ctx context.Context, fc FlowCookie, q url.Values) (store.User, error) {
	state, ok := ParseSecret(q.Get("state"))
	if !ok {
		return store.User{}, fmt.Errorf("%w: malformed state", ErrFlow)
	}
	login, err := s.Store.TakeSSOLogin(ctx, fc.TenantID, hashSecret(state))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("%w: unknown, expired or used state", ErrFlow)
	}
	if err != nil {
		return store.User{}, err
	}
	if subtle.ConstantTimeCompare(login.BrowserHash, hashSecret(fc.Secret)) != 1 {
		return store.User{}, fmt.Errorf("%w: state of another browser", ErrFlow)
	}
	if e := q.Get("error"); e != "" {
		return store.User{}, fmt.Errorf("%w: the provider answered %s", ErrProvider, safeCode(e))
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		return store.User{}, fmt.Errorf("%w: no authorization code", ErrProvider)
	}
	sc, err := s.Store.SSOConfig(ctx, fc.TenantID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrNotConfigured
	}
	if err != nil {
		return store.User{}, err
	}
	p, err := s.provider(ctx, sc.Issuer)
	if err != nil {
		return store.User{}, err
	}
	oc, err := s.oauthConfig(ctx, sc, p, login.RedirectURI)
	if err != nil {
		return store.User{}, err
	}
	hctx := s.context(ctx)
	tok, err := oc.Exchange(hctx, code, oauth2.VerifierOption(login.Verifier))
	if err != nil {
		return store.User{}, fmt.Errorf("%w: code exchange: %w", ErrProvider, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return store.User{}, fmt.Errorf("%w: no id_token in the token answer", ErrProvider)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: sc.ClientID, Now: s.now}).Verify(hctx, raw)
	if err != nil {
		return store.User{}, fmt.Errorf("%w: %w", ErrToken, err)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return store.User{}, fmt.Errorf("%w: claims: %w", ErrToken, err)
	}
	// With several audiences the token must name us as its authorized party (OIDC Core
	// 3.1.3.7); go-oidc checks only that we are among them.
	if azp, _ := claims["azp"].(string); len(idt.Audience) > 1 && azp != sc.ClientID {
		return store.User{}, fmt.Errorf("%w: authorized party %q, want %q", ErrToken, azp, sc.ClientID)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(login.Nonce)) != 1 {
		return store.User{}, fmt.Errorf("%w: nonce does not match this sign-in", ErrToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return store.User{}, fmt.Errorf("%w: %w", ErrToken, err)
		}
	}
	if idt.Subject == "" {
		return store.User{}, fmt.Errorf("%w: no subject", ErrToken)
	}
	// Claims the ID token lacks (many providers put e-mail and groups only in userinfo)
	// come from the userinfo endpoint, for the same subject.
	_, hasGroups := claims[sc.GroupClaim]
	if _, hasEmail := claims["email"]; (!hasEmail || (sc.GroupClaim != "" && !hasGroups)) && p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(hctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return store.User{}, fmt.Errorf("%w: userinfo: %w", ErrProvider, err)
		}
		if ui.Subject != idt.Subject {
			return store.User{}, fmt.Errorf("%w: userinfo is about subject %q, the id token about %q", ErrProvider, ui.Subject, idt.Subject)
		}
		more := map[string]any{}
		if err := ui.Claims(&more); err != nil {
			return store.User{}, fmt.Errorf("%w: userinfo claims: %w", ErrProvider, err)
		}
		for k, v := range more {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	u, err := s.account(ctx, fc.TenantID, idt.Issuer, idt.Subject, claims)
	if err != nil {
		return u, err
	}
	if u.LockedAt != nil {
		return u, auth.ErrLocked
	}
	if sc.GroupClaim != "" {
		names, err := groupNames(claims[sc.GroupClaim])
		if err != nil {
			return u, fmt.Errorf("%w: claim %q: %w", ErrToken, sc.GroupClaim, err)
		}
		added, removed, err := s.Store.SyncGroups(ctx, u.TenantID, u.ID, store.GroupSSO, names)
		if err != nil {
			return u, err
		}
		if len(added)+len(removed) > 0 {
			s.audit(ctx, u.TenantID, "groups.synced", "sso", u.ID, "", fmt.Sprintf("added %q removed %q", added, removed))
		}
	}
	if err := s.Store.TouchSSOIdentity(ctx, u.TenantID, idt.Issuer, idt.Subject, s.now()); err != nil {
		return u, err
	}
	return u, nil
}

// account returns the user linked to (issuer, subject), making one on the first
// sign-in. It never links by e-mail: an address the tenant already has is refused.
func (s *Service) account(ctx context.Context, tenantID, issuer, subject string, claims map[string]any) (store.User, error) {
	u, err := s.Store.UserBySSOIdentity(ctx, tenantID, issuer, subject)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return u, err
	}
	email, _ := claims["email"].(string)
	email = strings.TrimSpace(email)
	if email == "" || len(email) > maxEmail || !strings.Contains(email, "@") {
		return store.User{}, ErrNoEmail
	}
	u, err = s.Store.ProvisionSSOUser(ctx, store.User{TenantID: tenantID, Email: email, Role: store.RoleViewer}, issuer, subject)
	if errors.Is(err, store.ErrExists) {
		// Either the address is taken, or another sign-in of the same person made the
		// account a moment ago.
		if u, err := s.Store.UserBySSOIdentity(ctx, tenantID, issuer, subject); err == nil {
			return u, nil
		}
		return store.User{}, fmt.Errorf("%w: %s", ErrEmailTaken, email)
	}
	if err != nil {
		return store.User{}, err
	}
	s.audit(ctx, tenantID, "account.provisioned", "sso", u.ID, "", fmt.Sprintf("%s from %s subject %s", email, issuer, subject))
	return u, nil
}

// groupNames reads a group claim: a list of strings, or one string. No claim is no
// groups: the provider is the source of truth.
func groupNames(v any) ([]string, error) {
	var out []string
	add := func(s string) error {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		if len(s) > maxGroupName {
			return fmt.Errorf("group name of %d bytes", len(s))
		}
		out = append(out, s)
		return nil
	}
	switch v := v.(type) {
	case nil:
	case string:
		if err := add(v); err != nil {
			return nil, err
		}
	case []any:
		if len(v) > maxGroups {
			return nil, fmt.Errorf("%d groups, at most %d", len(v), maxGroups)
		}
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("a group that is not a string")
			}
			if err := add(s); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("want a list of strings")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// safeCode returns an OAuth error code for logs and pages, or "an error" when the
// value is not one (it comes from the query string).
func safeCode(s string) string {
	if len(s) > 64 {
		return "an error"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c == '_') {
			return "an error"
		}
	}
	return s
}

func (s *Service) audit(ctx context.Context, tenantID, action, actor, userID, ip, detail string) {
	if s.Audit == nil || tenantID == "" {
		return
	}
	if err := s.Audit.Audit(ctx, tenantID, action, actor, userID, ip, detail); err != nil {
		s.log().Error("audit", "action", action, "err", err)
	}
}
