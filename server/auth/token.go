// Package auth says who is calling the server: API bearer tokens now (the agent's and
// scripts'), sessions and sign-in as the identity issue lands. Secrets are 256-bit random
// values kept only as SHA-256 hashes, so a copy of the database grants nothing.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// Token scopes.
const (
	ScopeIngest = "ingest" // agents: upload recordings
	ScopeView   = "view"   // read recordings and play them
	ScopeAdmin  = "admin"  // everything in the tenant
)

// tokenPrefix marks Aula tokens so secret scanners and people can tell them apart.
const tokenPrefix = "aula_"

// Errors of authentication; the HTTP layer answers 401 for all but ErrScope (403).
var (
	ErrNoCredentials = errors.New("no credentials")
	ErrBadToken      = errors.New("token not valid")
	ErrExpired       = errors.New("token expired or revoked")
	ErrScope         = errors.New("token lacks the scope")
)

// NewToken makes a 256-bit random token and the hash to store for it.
func NewToken() (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("make token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is the stored form of a token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Principal is an authenticated caller.
type Principal struct {
	TenantID string
	UserID   string
	Scope    string
	TokenID  string
	// SessionID names the browser session the principal came with, if any.
	SessionID string
	// ClientID is the OAuth client the token was issued to: an agent's (with no
	// UserID) or the desktop recorder's (with its user's).
	ClientID string
}

// Allows reports whether p may act in scope; admin may do all.
func (p Principal) Allows(scope string) bool {
	return p.Scope == scope || p.Scope == ScopeAdmin
}

// Tokens finds tokens by hash; *store.Store is one.
type Tokens interface {
	TokenByHash(ctx context.Context, hash []byte) (store.Token, error)
}

// Bearer authenticates an "Authorization: Bearer TOKEN" request.
func Bearer(ctx context.Context, tokens Tokens, r *http.Request, now time.Time) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, ErrNoCredentials
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, fmt.Errorf("%w: want a Bearer token", ErrBadToken)
	}
	tok = strings.TrimSpace(tok)
	if !strings.HasPrefix(tok, tokenPrefix) || len(tok) != len(tokenPrefix)+43 {
		return Principal{}, ErrBadToken
	}
	hash := HashToken(tok)
	t, err := tokens.TokenByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrBadToken
	}
	if err != nil {
		return Principal{}, err
	}
	// The lookup was by hash already; compare again in constant time for good measure.
	if subtle.ConstantTimeCompare(t.Hash, hash) != 1 {
		return Principal{}, ErrBadToken
	}
	if t.RevokedAt != nil || !now.Before(t.ExpiresAt) {
		return Principal{}, ErrExpired
	}
	return Principal{TenantID: t.TenantID, UserID: t.UserID, Scope: t.Scope, TokenID: t.ID, ClientID: t.ClientID}, nil
}

// ParseToken checks the form of an Aula secret (an API or access token, a refresh token,
// an enrollment code, a client secret or an authorization code): "aula_" and 43
// characters of unpadded base64url (256 bits). It says nothing about whether the secret
// is known.
func ParseToken(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok || len(rest) != 43 {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return s, true
}
