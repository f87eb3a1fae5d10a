package sso

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseFlowCookie(t *testing.T) {
	secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "0193a5b2-7c1e-7d3f-8a9b-0123456789ab"
	good := FlowCookie{TenantID: tenant, Secret: secret}
	if got, ok := ParseFlowCookie(good.String()); !ok || got != good {
		t.Fatalf("ParseFlowCookie(%q) = %+v, %v", good.String(), got, ok)
	}
	for _, v := range []string{
		"",
		tenant,
		tenant + ".",
		"." + secret,
		strings.ToUpper(tenant) + "." + secret, // not the canonical form
		"0193a5b2x7c1e-7d3f-8a9b-0123456789ab." + secret, // dash missing
		"0193a5b2-7c1e-7d3f-8a9b-0123456789ag." + secret, // not hex
		tenant + "." + secret[:42],                       // short
		tenant + "." + secret + "A",                      // long
		tenant + "." + strings.Repeat("+", 43),           // not base64url
		tenant + "." + secret[:42] + "B",                 // non-canonical last character
		tenant + "." + secret + "." + secret,             // extra part
		"../../etc/passwd." + secret,
	} {
		if got, ok := ParseFlowCookie(v); ok {
			t.Errorf("ParseFlowCookie(%q) = %+v, want refusal", v, got)
		}
	}
}

func FuzzParseFlowCookie(f *testing.F) {
	f.Add("0193a5b2-7c1e-7d3f-8a9b-0123456789ab.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Add("x.y")
	f.Fuzz(func(t *testing.T, v string) {
		c, ok := ParseFlowCookie(v)
		if !ok {
			return
		}
		// What parses prints back the same, and its parts hold no separator.
		if c.String() != v || strings.Contains(c.Secret, ".") || len(c.TenantID) != 36 || len(c.Secret) != 43 {
			t.Fatalf("ParseFlowCookie(%q) = %+v", v, c)
		}
	})
}

func FuzzParseSecret(f *testing.F) {
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		s, ok := ParseSecret(v)
		if ok && (s != v || len(s) != secretLen || strings.ContainsAny(s, "+/=.")) {
			t.Fatalf("ParseSecret(%q) = %q", v, s)
		}
	})
}

// TestFlowCookieAttributes checks the cookie that binds a sign-in to the browser:
// __Host- prefix, Secure, HttpOnly, SameSite=Lax (sent on the provider's redirect back,
// a top-level GET), and gone after FlowTimeout.
func TestFlowCookieAttributes(t *testing.T) {
	rec := httptest.NewRecorder()
	http.SetCookie(rec, flowCookie(FlowCookie{TenantID: "t", Secret: "s"}))
	ClearCookie(rec)
	cookies := rec.Result().Cookies()
	if len(cookies) != 2 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != "__Host-aula-sso" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" ||
		c.Domain != "" || c.MaxAge != 600 {
		t.Errorf("flow cookie %+v", c)
	}
	if d := cookies[1]; d.Name != CookieName || d.MaxAge >= 0 || !d.Secure || d.Path != "/" {
		t.Errorf("clearing cookie %+v", d)
	}
}
