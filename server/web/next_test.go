package web

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"/oauth/consent?id=x", true},
		{"/oauth/consent?id=0195f0b2-0000-7000-8000-000000000001", true},
		{"/oauth/device", true},
		{"/oauth/device?user_code=BCDF-GHJK", true},
		{"/recordings", true},
		{"/recordings/0195f0b2-0000-7000-8000-000000000001", true},
		{"", false},
		{"//evil.example", false},
		{"//evil.example/oauth/consent", false},
		{"/\\evil", false},
		{"/\\evil.example/oauth/consent", false},
		{"\\\\evil.example", false},
		{"/oauth\\consent", false},
		{"https://evil", false},
		{"https://evil.example/oauth/consent?id=x", false},
		{"javascript:alert(1)", false},
		{"oauth/consent?id=x", false},
		{"/oauth/consent#x", false},
		{"/oauth/consent?id=x\r\nSet-Cookie: a=b", false},
		{"/oauth/consent?id=\x00", false},
		{"/oauth/consent?id=a b", false},
		{"/oauth/consent?id=\u00e9", false},
		{"/\t/evil.example", false},
		{"/recordings/../admin/users", false},
		{"/recordings/%2e%2e/admin/users", false},
		{"/recordings%2f..%2fadmin", false},
		{"/recordings/", false},
		{"/recordingsx", false},
		{"/admin/users", false},
		{"/signin", false},
		{"/oauth/authorize?client_id=x", false},
		{"/oauth/consent/../../admin", false},
		{"/recordings/" + strings.Repeat("a", 2100), false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := safeNext(tc.in)
			if ok != tc.ok || ok && got != tc.in {
				t.Errorf("safeNext(%q) = %q, %v; want ok %v", tc.in, got, ok, tc.ok)
			}
		})
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/oauth/consent?id=x", "//evil", "/\\evil", "https://evil", "/recordings/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		next, ok := safeNext(s)
		if !ok {
			return
		}
		// Whatever passes is a path on this host, as a browser resolves it.
		base, _ := url.Parse("https://aula.example/signin")
		u, err := base.Parse(next)
		if err != nil || u.Host != "aula.example" || u.Scheme != "https" {
			t.Fatalf("safeNext accepted %q, which leads to %v (%v)", s, u, err)
		}
	})
}

// cookies returns the cookies w set.
func cookies(w *httptest.ResponseRecorder) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range w.Result().Cookies() {
		out[c.Name] = c
	}
	return out
}

func TestRememberNext(t *testing.T) {
	w := httptest.NewRecorder()
	rememberNext(w, httptest.NewRequest("GET", "/signin?next="+url.QueryEscape("/oauth/consent?id=x"), nil))
	c := cookies(w)[nextCookie]
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" ||
		c.MaxAge <= 0 || c.MaxAge > 15*60 {
		t.Fatalf("cookie %+v", c)
	}
	if raw, _ := base64.RawURLEncoding.DecodeString(c.Value); string(raw) != "/oauth/consent?id=x" {
		t.Errorf("cookie holds %q", raw)
	}

	// The cookie is used once by the end of a sign-in.
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: nextCookie, Value: c.Value})
	w = httptest.NewRecorder()
	if got := takeNext(w, r); got != "/oauth/consent?id=x" {
		t.Errorf("takeNext = %q", got)
	}
	if c := cookies(w)[nextCookie]; c == nil || c.MaxAge >= 0 {
		t.Errorf("takeNext left the cookie: %+v", c)
	}
	if got := takeNext(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)); got != "/recordings" {
		t.Errorf("takeNext without a cookie = %q", got)
	}

	// A foreign target is not kept, and forgets an earlier one.
	for _, bad := range []string{"//evil.example", "/\\evil", "https://evil", "/admin/users"} {
		r := httptest.NewRequest("GET", "/signin?next="+url.QueryEscape(bad), nil)
		r.AddCookie(&http.Cookie{Name: nextCookie, Value: c.Value})
		w := httptest.NewRecorder()
		rememberNext(w, r)
		if c := cookies(w)[nextCookie]; c == nil || c.MaxAge >= 0 {
			t.Errorf("next=%s: cookie %+v, want it cleared", bad, c)
		}
	}
	// A cookie made elsewhere (a cookie is input) is checked again when used.
	for _, bad := range []string{"//evil.example", "https://evil", "not base64 !"} {
		v := base64.RawURLEncoding.EncodeToString([]byte(bad))
		if bad == "not base64 !" {
			v = bad
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: nextCookie, Value: v})
		if got := takeNext(httptest.NewRecorder(), r); got != "/recordings" {
			t.Errorf("cookie %q: takeNext = %q", bad, got)
		}
	}
	// Without ?next= the sign-in page changes nothing.
	w = httptest.NewRecorder()
	rememberNext(w, httptest.NewRequest("GET", "/signin", nil))
	if len(w.Result().Cookies()) != 0 {
		t.Errorf("sign-in page without next set %v", w.Result().Cookies())
	}
}
