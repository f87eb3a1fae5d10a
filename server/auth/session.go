package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// CookieName is the session cookie. The __Host- prefix makes browsers insist on
// Secure, Path=/ and no Domain, so no other host can set or read it.
const CookieName = "__Host-aula"

// ErrNoSession reports a request without a live session.
var ErrNoSession = errors.New("not signed in")

// SessionStore keeps sessions by token hash; *store.Store is one.
type SessionStore interface {
	CreateSession(ctx context.Context, se store.Session) error
	SessionByHash(ctx context.Context, hash []byte) (store.Session, error)
	TouchSession(ctx context.Context, hash []byte, at time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error
}

// Sessions are server-side sign-in sessions in a cookie that holds only a random token.
type Sessions struct {
	Store SessionStore
	// Idle ends a session unused this long (default 30 min); Absolute ends any session
	// this long after sign-in (default 12 h).
	Idle, Absolute time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sessions) limits() (idle, absolute time.Duration) {
	idle, absolute = s.Idle, s.Absolute
	if idle == 0 {
		idle = 30 * time.Minute
	}
	if absolute == 0 {
		absolute = 12 * time.Hour
	}
	return idle, absolute
}

// Create starts a session for the user and sets its cookie: a new 256-bit token every
// time, so a token planted before sign-in is worthless.
func (s *Sessions) Create(ctx context.Context, w http.ResponseWriter, tenantID, userID string) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("make session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	_, absolute := s.limits()
	if err := s.Store.CreateSession(ctx, store.Session{Hash: HashToken(token), TenantID: tenantID, UserID: userID,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(absolute)}); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(absolute.Seconds())})
	return nil
}

// Get returns the signed-in principal of r, ending sessions past their idle or
// absolute limit.
func (s *Sessions) Get(ctx context.Context, r *http.Request) (Principal, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || len(c.Value) != 43 {
		return Principal{}, ErrNoSession
	}
	hash := HashToken(c.Value)
	se, err := s.Store.SessionByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrNoSession
	}
	if err != nil {
		return Principal{}, err
	}
	now := s.now()
	idle, _ := s.limits()
	if !now.Before(se.ExpiresAt) || now.Sub(se.LastSeen) >= idle {
		_ = s.Store.DeleteSession(ctx, hash)
		return Principal{}, ErrNoSession
	}
	// Touch at most once a minute: every page and segment request would otherwise write.
	if now.Sub(se.LastSeen) > time.Minute {
		if err := s.Store.TouchSession(ctx, hash, now); err != nil {
			return Principal{}, err
		}
	}
	return Principal{TenantID: se.TenantID, UserID: se.UserID, Scope: ScopeView}, nil
}

// Delete ends r's session on the server and clears the cookie.
func (s *Sessions) Delete(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	return s.Store.DeleteSession(ctx, HashToken(c.Value))
}
