package sso

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// CookieName is the cookie that binds a sign-in in flight to the browser that began it.
// The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
const CookieName = "__Host-aula-sso"

// FlowTimeout is how long a sign-in may stay at the identity provider: its state,
// nonce and verifier, and the cookie, expire after it.
const FlowTimeout = 10 * time.Minute

// secretLen is the length of states, nonces and the cookie's secret: 256 random bits
// in unpadded base64url.
const secretLen = 43

// newSecret returns 256 random bits in unpadded base64url.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashSecret is the stored form of a state or the cookie's secret.
func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// ParseSecret checks the form of a state or a cookie's secret: 43 characters of
// unpadded base64url that decode to 32 bytes.
func ParseSecret(v string) (string, bool) {
	if len(v) != secretLen {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return v, true
}

// FlowCookie is the value of the cookie: the tenant whose provider the browser was sent
// to, and a secret whose hash the sign-in's stored state holds.
type FlowCookie struct {
	TenantID string
	Secret   string
}

// String is the cookie's value, "TENANT.SECRET".
func (c FlowCookie) String() string { return c.TenantID + "." + c.Secret }

// ParseFlowCookie parses a cookie value made by FlowCookie.String. The tenant must be a
// UUID in its canonical lower-case form, and the secret as ParseSecret wants it.
func ParseFlowCookie(v string) (FlowCookie, bool) {
	tenant, secret, ok := strings.Cut(v, ".")
	if !ok || !validUUID(tenant) {
		return FlowCookie{}, false
	}
	if _, ok := ParseSecret(secret); !ok {
		return FlowCookie{}, false
	}
	return FlowCookie{TenantID: tenant, Secret: secret}, true
}

// validUUID reports whether s is a UUID as the store writes them: 36 characters, lower-case
// hex digits with dashes at 8, 13, 18 and 23.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// flowCookie returns the cookie to set when a sign-in begins.
func flowCookie(c FlowCookie) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: c.String(), Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(FlowTimeout / time.Second)}
}

// ClearCookie tells the browser to forget the sign-in cookie.
func ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// cookieOf returns the parsed sign-in cookie of r.
func cookieOf(r *http.Request) (FlowCookie, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return FlowCookie{}, false
	}
	return ParseFlowCookie(c.Value)
}
