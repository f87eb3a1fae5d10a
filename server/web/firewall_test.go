package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/aulacapture/aula/server/firewall"
	"github.com/aulacapture/aula/server/store"
)

// fakeFirewall is a Firewall of function fields.
type fakeFirewall struct {
	rules    func(ctx context.Context, tenantID string) (firewall.Rules, error)
	set      func(ctx context.Context, c firewall.Change) (firewall.Rules, error)
	enforced bool
}

func (f fakeFirewall) Rules(ctx context.Context, tenantID string) (firewall.Rules, error) {
	return f.rules(ctx, tenantID)
}
func (f fakeFirewall) Set(ctx context.Context, c firewall.Change) (firewall.Rules, error) {
	return f.set(ctx, c)
}
func (f fakeFirewall) CountriesEnforced() bool { return f.enforced }

func firewallHandler(t *testing.T, fw Firewall) *Handler {
	t.Helper()
	h := &Handler{Firewall: fw}
	h.Register(http.NewServeMux())
	return h
}

var adminVisitor = visitor{user: store.User{TenantID: "t", ID: "admin", Email: "admin@uni.example", Role: store.RoleAdmin}}

func TestFirewallPage(t *testing.T) {
	stored := firewall.Rules{Enabled: true, CountryMode: firewall.CountryAllow, Countries: []string{"DE", "FR"}, UpdatedBy: "x@uni.example"}
	stored.Ranges, _ = firewall.ParseRangeLines("192.0.2.0/24\n2001:db8::/32")
	stored.Exceptions = []firewall.Exception{{Email: "dean@uni.example", Anywhere: true}}
	for _, enforced := range []bool{false, true} {
		h := firewallHandler(t, fakeFirewall{enforced: enforced,
			rules: func(_ context.Context, tenantID string) (firewall.Rules, error) { return stored, nil }})
		r := httptest.NewRequest("GET", "/admin/firewall", nil)
		r.RemoteAddr = "192.0.2.9:1234"
		w := httptest.NewRecorder()
		h.firewallPage(w, r, adminVisitor)
		body := w.Body.String()
		for _, want := range []string{"192.0.2.0/24\n2001:db8::/32</textarea>", `value="DE, FR"`, "dean@uni.example anywhere</textarea>",
			`<option value="allow" selected>`, `name="enabled" checked`, `<code id="your-address">192.0.2.9</code>`, "x@uni.example"} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q:\n%s", want, body)
			}
		}
		if strings.Contains(body, `id="countries-off"`) == enforced {
			t.Errorf("with a GeoIP database %v, the page says country rules are off: %v", enforced, !enforced)
		}
	}
}

func TestSetFirewall(t *testing.T) {
	var got firewall.Change
	setErr := error(nil)
	h := firewallHandler(t, fakeFirewall{
		rules: func(context.Context, string) (firewall.Rules, error) { return firewall.Rules{}, nil },
		set: func(_ context.Context, c firewall.Change) (firewall.Rules, error) {
			got = c
			return c.Rules, setErr
		}})
	post := func(form url.Values) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/admin/firewall", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.9:1234"
		w := httptest.NewRecorder()
		h.setFirewall(w, r, adminVisitor)
		return w
	}
	w := post(url.Values{"enabled": {"on"}, "ranges": {"192.0.2.0/24\r\n2001:db8::/32\r\n"}, "country_mode": {"deny"},
		"countries": {"ru"}, "exceptions": {"guest@uni.example 198.51.100.7"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/firewall?done=saved" {
		t.Fatalf("save: %d %s", w.Code, w.Body.String())
	}
	if got.TenantID != "t" || got.Actor != "admin@uni.example" || got.ActorUserID != "admin" || got.ActorAddr.String() != "192.0.2.9" ||
		got.Force || !got.Rules.Enabled || firewall.FormatRanges(got.Rules.Ranges) != "192.0.2.0/24\n2001:db8::/32" ||
		got.Rules.CountryMode != "deny" || len(got.Rules.Countries) != 1 || got.Rules.Countries[0] != "RU" ||
		firewall.FormatExceptions(got.Rules.Exceptions) != "guest@uni.example 198.51.100.7/32" {
		t.Errorf("change %+v", got)
	}

	// Bad input: 422 naming the line, and the form keeps what was typed.
	w = post(url.Values{"ranges": {"192.0.2.0/24\n10.0.0.1/8\n10.0.0.300/8"}})
	if body := w.Body.String(); w.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "Allowed ranges, line 3: 10.0.0.300/8 is not a CIDR range.") || !strings.Contains(body, "10.0.0.1/8\n10.0.0.300/8</textarea>") {
		t.Errorf("bad range: %d\n%s", w.Code, body)
	}
	w = post(url.Values{"countries": {"DE"}})
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "choose whether to allow or deny them") {
		t.Errorf("countries without a mode: %d\n%s", w.Code, w.Body.String())
	}
	// A lockout is shown as its sentence.
	setErr = firewall.ErrLockout
	w = post(url.Values{"enabled": {"on"}, "ranges": {"10.0.0.0/8"}})
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), firewall.ErrLockout.Error()) {
		t.Errorf("lockout: %d\n%s", w.Code, w.Body.String())
	}
	setErr = errors.New("disk on fire")
	if w = post(url.Values{}); w.Code != http.StatusInternalServerError {
		t.Errorf("store failure: %d", w.Code)
	}
}

func TestStartRefused(t *testing.T) {
	h := firewallHandler(t, nil)
	r := httptest.NewRequest("POST", "/signin", nil)
	w := httptest.NewRecorder()
	h.startRefused(w, r, &firewall.DeniedError{Addr: netip.MustParseAddr("203.0.113.9")})
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "Your address 203.0.113.9 is not allowed for this organisation.") {
		t.Errorf("refusal: %d\n%s", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	h.startRefusedJSON(w, r, &firewall.DeniedError{Addr: netip.MustParseAddr("203.0.113.9")})
	if w.Code != http.StatusForbidden || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("JSON refusal: %d %s", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	h.startRefused(w, r, errors.New("database gone"))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("failure: %d", w.Code)
	}
}
