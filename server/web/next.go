package web

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// The return after sign-in: a page that needs a signed-in visitor, such as the desktop
// recorder's consent page, links to /signin?next=PATH; the sign-in page keeps PATH in a
// short-lived cookie, and the last step of the sign-in sends the browser there instead
// of to the recordings. Only local paths of a few pages are kept, so the sign-in cannot
// be turned into an open redirect (SECURITY §17).

// nextCookie holds the page to return to after sign-in. The __Host- prefix makes the
// browser refuse it unless it is Secure, Path=/ and without Domain, so no other host
// can set it.
const nextCookie = "__Host-aula-next"

const (
	// nextMaxAge is how long a remembered return lasts: as long as a recorder's
	// authorization request, about.
	nextMaxAge = 10 * 60
	// maxNext is the longest return path kept.
	maxNext = 2048
	// afterSignIn is where a sign-in ends with nothing remembered.
	afterSignIn = "/recordings"
)

// safeNext reports whether s may be returned to after sign-in, and returns it. It
// accepts only a local path (a single leading slash, no scheme, host or user, no
// backslash, no control or non-ASCII characters, no dot segments, at most 2 KB) of the
// recorder's consent or device page or of the recordings, with an optional query.
func safeNext(s string) (string, bool) {
	if s == "" || len(s) > maxNext || s[0] != '/' || strings.HasPrefix(s, "//") {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		// Printable ASCII only: no controls, spaces or bytes browsers might read
		// differently; a backslash is a slash to some browsers ("/\evil" is "//evil").
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return "", false
	}
	// A path written other than in its plain form ("%2e%2e", "%2f") or with dot or
	// empty segments is refused rather than interpreted.
	p := u.Path
	if u.RawPath != "" || path.Clean(p) != p {
		return "", false
	}
	switch {
	case p == "/oauth/consent", p == "/oauth/device", p == "/recordings", strings.HasPrefix(p, "/recordings/"):
		return s, true
	}
	return "", false
}

// rememberNext keeps the ?next= of the sign-in page's request in nextCookie when it is
// a safe return, and forgets an earlier one otherwise, so a stale return never
// outlives a new sign-in begun elsewhere.
func rememberNext(w http.ResponseWriter, r *http.Request) {
	raw, asked := r.URL.Query()["next"]
	if !asked {
		return
	}
	next, ok := safeNext(raw[0])
	if !ok {
		clearNext(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: nextCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(next)),
		Path: "/", MaxAge: nextMaxAge, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// clearNext removes nextCookie if r carries it.
func clearNext(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(nextCookie); err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: nextCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
}

// takeNext returns where a finished sign-in goes: the remembered return, checked again
// (a cookie is input), or the recordings; it clears the cookie, so it is used once.
func takeNext(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(nextCookie)
	if err != nil {
		return afterSignIn
	}
	clearNext(w, r)
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return afterSignIn
	}
	if next, ok := safeNext(string(raw)); ok {
		return next
	}
	return afterSignIn
}
