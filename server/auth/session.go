package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// CookieName is the session cookie. The __Host- prefix makes browsers insist on
// Secure, Path=/ and no Domain, so no other host can set or read it.
const CookieName = "__Host-aula"

// Default session timeouts (SECURITY §6); a tenant's policy may set others.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
	// stepTimeout bounds a session that waits for a second factor or a forced set-up.
	stepTimeout = 10 * time.Minute
)

// ErrNoSession reports a request without a live session.
var ErrNoSession = errors.New("not signed in")

// ErrStage reports a live session that has not finished signing in (second factor or
// forced set-up pending).
var ErrStage = errors.New("sign-in not finished")

// SessionStore keeps sessions by token hash; *store.Store is one.
type SessionStore interface {
	CreateSession(ctx context.Context, se store.Session) error
	SessionByHash(ctx context.Context, hash []byte) (store.Session, error)
	TouchSession(ctx context.Context, hash []byte, at time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error
}

// PolicySource gives a tenant's security policy; *store.Store is one.
type PolicySource interface {
	TenantPolicy(ctx context.Context, tenantID string) (store.TenantPolicy, error)
}

// Sessions are server-side sign-in sessions in a cookie that holds only a random token.
type Sessions struct {
	Store SessionStore
	// Policies, if set, gives each tenant's timeouts; a zero timeout there, or no
	// Policies, means Idle and Absolute.
	Policies PolicySource
	// Idle ends a session unused this long (default 30 min); Absolute ends any session
	// this long after sign-in (default 12 h).
	Idle, Absolute time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Gate, if set, may refuse a sign-in before Start makes its session: every way of
	// signing in (password, single sign-on, security key) passes through Start. r is the
	// sign-in request (nil from Create). An error wrapping ErrRefused is a refusal whose
	// message is a sentence for the user; any other error is a failure.
	Gate func(ctx context.Context, tenantID, userID string, r *http.Request) error
}

// ErrRefused marks a sign-in the Gate refused (the firewall, say); the error's
// message is a sentence for the user.
var ErrRefused = errors.New("sign-in refused")

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Timeouts returns the tenant's idle and absolute session timeouts.
func (s *Sessions) Timeouts(ctx context.Context, tenantID string) (idle, absolute time.Duration, err error) {
	idle, absolute = s.Idle, s.Absolute
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	if absolute == 0 {
		absolute = DefaultAbsoluteTimeout
	}
	if s.Policies != nil {
		p, err := s.Policies.TenantPolicy(ctx, tenantID)
		if err != nil {
			return 0, 0, err
		}
		if p.IdleTimeout > 0 {
			idle = p.IdleTimeout
		}
		if p.AbsoluteTimeout > 0 {
			absolute = p.AbsoluteTimeout
		}
	}
	return idle, absolute, nil
}

// Create starts a full session for the user; see Start.
func (s *Sessions) Create(ctx context.Context, w http.ResponseWriter, tenantID, userID string) error {
	_, err := s.Start(ctx, w, nil, tenantID, userID, store.SessionFull)
	return err
}

// Start starts a session of the stage for the user and sets its cookie. It always makes
// a new 256-bit token and ends the session r came with, if any: every step of signing
// in rotates the token, so a token planted before sign-in is worthless (no fixation).
// The Gate, if set, is asked first; when it refuses, the session r came with ends too
// (a half-finished sign-in from a refused address goes no further).
func (s *Sessions) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, tenantID, userID, stage string) (store.Session, error) {
	if s.Gate != nil {
		if err := s.Gate(ctx, tenantID, userID, r); err != nil {
			if errors.Is(err, ErrRefused) && r != nil {
				if derr := s.Delete(ctx, w, r); derr != nil {
					return store.Session{}, errors.Join(err, derr)
				}
			}
			return store.Session{}, err
		}
	}
	if r != nil {
		if token, ok := sessionToken(r); ok {
			if err := s.Store.DeleteSession(ctx, HashToken(token)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return store.Session{}, err
			}
		}
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return store.Session{}, fmt.Errorf("make session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	_, absolute, err := s.Timeouts(ctx, tenantID)
	if err != nil {
		return store.Session{}, err
	}
	if stage != store.SessionFull {
		absolute = min(absolute, stepTimeout)
	}
	se := store.Session{Hash: HashToken(token), TenantID: tenantID, UserID: userID, Stage: stage,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(absolute)}
	if r != nil {
		se.IP, se.UserAgent = ClientIP(r), r.UserAgent()
	}
	if err := s.Store.CreateSession(ctx, se); err != nil {
		return store.Session{}, err
	}
	// A session cookie (no Max-Age): the server ends the session, and closing the
	// browser forgets it.
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
	return se, nil
}

// ParseSessionToken checks the form of a session cookie's value: 43 characters of
// unpadded base64url (256 bits).
func ParseSessionToken(v string) (string, bool) {
	if len(v) != 43 {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return v, true
}

func sessionToken(r *http.Request) (string, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return "", false
	}
	return ParseSessionToken(c.Value)
}

// Current returns r's live session at any stage, ending sessions past their idle or
// absolute limit.
func (s *Sessions) Current(ctx context.Context, r *http.Request) (store.Session, error) {
	token, ok := sessionToken(r)
	if !ok {
		return store.Session{}, ErrNoSession
	}
	hash := HashToken(token)
	se, err := s.Store.SessionByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, ErrNoSession
	}
	if err != nil {
		return store.Session{}, err
	}
	now := s.now()
	idle, _, err := s.Timeouts(ctx, se.TenantID)
	if err != nil {
		return store.Session{}, err
	}
	if !now.Before(se.ExpiresAt) || now.Sub(se.LastSeen) >= idle {
		_ = s.Store.DeleteSession(ctx, hash)
		return store.Session{}, ErrNoSession
	}
	// Touch at most once a minute: every page and segment request would otherwise write.
	if now.Sub(se.LastSeen) > time.Minute {
		if err := s.Store.TouchSession(ctx, hash, now); err != nil {
			if errors.Is(err, store.ErrNotFound) { // revoked meanwhile
				return store.Session{}, ErrNoSession
			}
			return store.Session{}, err
		}
		se.LastSeen = now
	}
	return se, nil
}

// Get returns the signed-in principal of r: a live session that finished signing in.
func (s *Sessions) Get(ctx context.Context, r *http.Request) (Principal, error) {
	se, err := s.Current(ctx, r)
	if err != nil {
		return Principal{}, err
	}
	if se.Stage != store.SessionFull {
		return Principal{}, ErrStage
	}
	return Principal{TenantID: se.TenantID, UserID: se.UserID, Scope: ScopeView, SessionID: se.ID}, nil
}

// Delete ends r's session on the server and clears the cookie.
func (s *Sessions) Delete(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	ClearCookie(w)
	token, ok := sessionToken(r)
	if !ok {
		return nil
	}
	err := s.Store.DeleteSession(ctx, HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// ClearCookie tells the browser to forget the session cookie.
func ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// ClientIP is the address r came from, as text: the client address the server
// resolved for the request (X-Forwarded-For believed only from the configured trusted
// proxies, SECURITY §12), else RemoteAddr's host.
func ClientIP(r *http.Request) string {
	if a, ok := ClientAddrFrom(r.Context()); ok {
		return a.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
