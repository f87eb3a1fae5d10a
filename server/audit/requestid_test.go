package audit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aulacapture/aula/server/store"
)

func TestRequestID(t *testing.T) {
	for _, c := range []struct {
		name, in string
		keep     bool
	}{
		{"none", "", false},
		{"sane", "abc-DEF_1.2", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"too long", strings.Repeat("a", 65), false},
		{"space", "a b", false},
		{"newline", "a\nb", false},
		{"non-ASCII", "é", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var gotID, gotIP string
			h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotID, gotIP = store.RequestIDFrom(r.Context()), store.ClientIPFrom(r.Context())
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "[2001:db8::1]:4321"
			if c.in != "" {
				r.Header.Set(RequestIDHeader, c.in)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if echoed := w.Header().Get(RequestIDHeader); echoed != gotID || gotID == "" {
				t.Errorf("handler saw %q, answer says %q", gotID, echoed)
			}
			if c.keep != (gotID == c.in) || !ValidRequestID(gotID) {
				t.Errorf("incoming %q became %q", c.in, gotID)
			}
			if gotIP != "2001:db8::1" {
				t.Errorf("client IP %q", gotIP)
			}
		})
	}
}
