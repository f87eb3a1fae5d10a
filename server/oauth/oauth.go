// Package oauth is the server's OAuth 2.0 authorization server for its own clients:
// enrolled agents (client credentials) and the desktop recorder (authorization code with
// PKCE on a loopback redirect, and the device grant), built on the certified op package
// of github.com/zitadel/oidc. Its access tokens are opaque rows of the API-token table,
// so the ingest API accepts them as it accepts any API token.
//
// # Caveats
//
// The key that signs ID tokens is a file of each server's data directory: several
// servers behind one load balancer each publish their own, which matters only to a
// client that verifies ID tokens (ours do not). Pending authorization requests and device
// codes are not under PostgreSQL's row-level security (see the store's migration 8).
package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/store"
)

// Paths the server answers.
const (
	// Prefix is where the authorization server lives; the issuer is https://HOST/oauth.
	Prefix = "/oauth"
	// TokenPath is the token endpoint (every grant).
	TokenPath = Prefix + "/token"
	// AuthorizePath is the authorization endpoint (code grant).
	AuthorizePath = Prefix + "/authorize"
	// DeviceAuthorizationPath is the device authorization endpoint (RFC 8628).
	DeviceAuthorizationPath = Prefix + "/device_authorization"
	// DevicePath is the page where a signed-in user enters a device's user code.
	DevicePath = Prefix + "/device"
	// EnrollPath trades an enrollment code for an agent credential.
	EnrollPath = "/api/v1/agents/enroll"

	consentPath  = Prefix + "/consent"
	callbackPath = AuthorizePath + "/callback"
)

// Lifetimes.
const (
	// MaxAccessTTL bounds access tokens (SECURITY §7).
	MaxAccessTTL      = 15 * time.Minute
	defaultRefreshTTL = 30 * 24 * time.Hour
	requestTTL        = 10 * time.Minute
)

// Store is what the authorization server keeps; *store.Store is one.
type Store interface {
	Ping(ctx context.Context) error
	User(ctx context.Context, tenantID, id string) (store.User, error)
	AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error)

	RedeemEnrollment(ctx context.Context, codeHash, secretHash []byte, at time.Time) (store.OAuthClient, error)
	OAuthClientByID(ctx context.Context, id string) (store.OAuthClient, error)

	CreateClientToken(ctx context.Context, t store.Token, clientID string) (store.Token, error)
	ClientTokenByHash(ctx context.Context, hash []byte) (store.Token, string, error)
	RevokeToken(ctx context.Context, tenantID, id string) error

	CreateRefreshToken(ctx context.Context, t store.RefreshToken) (store.RefreshToken, error)
	RefreshTokenByHash(ctx context.Context, hash []byte) (store.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, at time.Time) (store.RefreshToken, error)
	RevokeRefreshFamily(ctx context.Context, tenantID, family string, at time.Time) error

	CreateAuthRequest(ctx context.Context, a store.AuthRequest) (store.AuthRequest, error)
	AuthRequestByID(ctx context.Context, id string) (store.AuthRequest, error)
	AuthRequestByCodeHash(ctx context.Context, hash []byte) (store.AuthRequest, error)
	ApproveAuthRequest(ctx context.Context, id, tenantID, userID string, at time.Time) error
	SaveAuthCode(ctx context.Context, id string, codeHash []byte) error
	ConsumeAuthRequest(ctx context.Context, id string) error
	DeleteAuthRequest(ctx context.Context, id string) error

	CreateDeviceCode(ctx context.Context, d store.DeviceCode) error
	DeviceCodeByUserCode(ctx context.Context, userCode string) (store.DeviceCode, error)
	DecideDeviceCode(ctx context.Context, userCode string, approve bool, tenantID, userID string, at time.Time) error
	PollDeviceCode(ctx context.Context, clientID string, deviceHash []byte) (store.DeviceCode, error)
}

// Sessions says who is signed in to the web pages; *auth.Sessions is one.
type Sessions interface {
	Get(ctx context.Context, r *http.Request) (auth.Principal, error)
}

// Options configure the authorization server.
type Options struct {
	// Store keeps clients, codes and tokens.
	Store Store
	// Sessions finds the signed-in user who approves a request.
	Sessions Sessions
	// Issuer is the public URL of the authorization server, ending in /oauth; empty
	// means https://HOST/oauth of each request.
	Issuer string
	// SigningKeyFile holds the ECDSA P-256 key that signs ID tokens; it is made there
	// (0600) when missing.
	SigningKeyFile string
	// AccessTTL is the access tokens' lifetime: at most, and by default, MaxAccessTTL.
	AccessTTL time.Duration
	// RefreshTTL is each refresh token's lifetime (default 30 days); every use rotates it.
	RefreshTTL time.Duration
	// DeviceInterval is how often a device may poll (default 5 s).
	DeviceInterval time.Duration
	// Log gets the errors that are the server's own; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the authorization server: op's endpoints, the consent and device pages, and
// the enrollment API.
type Server struct {
	opts     Options
	provider *op.Provider
	storage  *storage
	pages    map[string]*template.Template

	mu      sync.Mutex
	guesses map[string][]time.Time // wrong user codes by user ID, in this process
}

//go:embed templates/*.html
var templateFS embed.FS

// New builds the authorization server; it loads or makes the signing key.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Sessions == nil {
		return nil, errors.New("oauth: Store and Sessions are required")
	}
	if o.AccessTTL <= 0 || o.AccessTTL > MaxAccessTTL {
		o.AccessTTL = MaxAccessTTL
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = defaultRefreshTTL
	}
	if o.DeviceInterval <= 0 {
		o.DeviceInterval = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	key, err := loadOrCreateKey(o.SigningKeyFile)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	kid := sha256.Sum256(pub)
	st := &storage{st: o.Store, key: key, kid: base64.RawURLEncoding.EncodeToString(kid[:12]),
		ttl: ttls{access: o.AccessTTL, refresh: o.RefreshTTL, request: requestTTL}, now: o.Now}
	cfg := &op.Config{
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedUILocales:    []language.Tag{language.English},
		SupportedScopes:       []string{ScopeIngest, "offline_access"},
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     requestTTL,
			PollInterval: o.DeviceInterval,
			UserFormPath: DevicePath,
			UserCode:     op.UserCodeBase20,
		},
	}
	issuer := op.IssuerFromHost(Prefix)
	if o.Issuer != "" {
		issuer = op.StaticIssuer(o.Issuer)
	}
	// No cross-origin reads: our clients are native programs, not web pages (SECURITY §8).
	noCORS := &cors.Options{AllowOriginFunc: func(string) bool { return false }}
	p, err := op.NewProvider(cfg, st, issuer,
		op.WithCrypto(tokenCrypto{tokens: o.Store, now: o.Now}),
		op.WithCORSOptions(noCORS),
		op.WithCustomTokenEndpoint(op.NewEndpoint("token")),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint("device_authorization")),
	)
	if err != nil {
		return nil, fmt.Errorf("oauth provider: %w", err)
	}
	s := &Server{opts: o, provider: p, storage: st, pages: map[string]*template.Template{}, guesses: map[string][]time.Time{}}
	for _, name := range []string{"consent", "device", "message"} {
		s.pages[name] = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return s, nil
}

// The OAuth routes' rules (server/authz): op's endpoints and the enrollment API
// authenticate their callers themselves (client secrets, codes); the consent and device
// pages check the browser's session themselves.
func init() {
	authz.Define(Prefix+"/", authz.Public)
	authz.Define("POST "+EnrollPath, authz.Public)
	for _, p := range []string{"GET " + consentPath, "POST " + consentPath, "GET " + DevicePath, "POST " + DevicePath} {
		authz.Define(p, authz.Account)
	}
}

// Register adds the routes to mux: op's endpoints under /oauth, the consent and device
// pages, and the enrollment API.
func (s *Server) Register(mux authz.Mux) {
	mux.Handle(Prefix+"/", http.StripPrefix(Prefix, s.provider))
	mux.HandleFunc("GET "+consentPath, s.consentPage)
	mux.HandleFunc("POST "+consentPath, s.consent)
	mux.HandleFunc("GET "+DevicePath, s.devicePage)
	mux.HandleFunc("POST "+DevicePath, s.device)
	mux.HandleFunc("POST "+EnrollPath, s.enroll)
}

// loadOrCreateKey reads the PEM ECDSA key at path, or makes one there.
func loadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	if path == "" {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM key", path)
		}
		k, err := x509.ParseECPrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return k, nil
}
