package audit

import (
	"crypto/rand"
	"net"
	"net/http"

	"github.com/aulacapture/aula/server/store"
)

// RequestIDHeader carries a request's ID in requests and answers.
const RequestIDHeader = "X-Request-ID"

// maxRequestID caps an incoming request ID.
const maxRequestID = 64

// RequestID gives each request an ID: the client's X-Request-ID if it is 1 to 64
// characters of [A-Za-z0-9._-], or a new random one. It sets the ID on the answer and
// puts it, with the client's address, in the request's context, where the store's
// AppendAudit finds both. Put it after the middleware that resolves the client's
// address from trusted proxies.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !ValidRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := store.WithRequestID(r.Context(), id)
		ip := r.RemoteAddr
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		ctx = store.WithClientIP(ctx, ip)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ValidRequestID reports whether id may be taken from a client as a request ID.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// newRequestID is 128 random bits as 26 characters of base32.
func newRequestID() string { return rand.Text() }
