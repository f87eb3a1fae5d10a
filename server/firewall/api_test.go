package firewall

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
)

func apiCall(t *testing.T, a *API, method, body string, p *auth.Principal, from string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, "/api/v1/admin/firewall", strings.NewReader(body))
	r.RemoteAddr = from + ":4321"
	if p != nil {
		r = r.WithContext(authz.WithPrincipal(r.Context(), *p))
	}
	w := httptest.NewRecorder()
	if method == "GET" {
		a.Get(w, r)
	} else {
		a.Put(w, r)
	}
	return w.Code, w.Body.String()
}

func TestAPI(t *testing.T) {
	s, m, rec := newService(t, nil)
	a := &API{Service: s}
	admin := &auth.Principal{TenantID: "t", UserID: "admin", Scope: auth.ScopeAdmin}

	if code, body := apiCall(t, a, "GET", "", nil, "192.0.2.1"); code != http.StatusUnauthorized || !strings.Contains(body, "Sign in") {
		t.Errorf("GET without a caller: %d %s", code, body)
	}
	if code, _ := apiCall(t, a, "PUT", `{}`, nil, "192.0.2.1"); code != http.StatusUnauthorized {
		t.Errorf("PUT without a caller: %d", code)
	}
	code, body := apiCall(t, a, "GET", "", admin, "192.0.2.1")
	var st StateJSON
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || st.Rules.Enabled || st.Rules.Ranges == nil ||
		st.CountriesEnforced || st.YourAddress != "192.0.2.1" {
		t.Errorf("GET before any rule: %d %s", code, body)
	}

	put := `{"enabled": true, "ranges": ["192.0.2.0/24", "2001:db8::/32"], "country_mode": "allow", "countries": ["de"],
		"exceptions": [{"email": "bob@example.org", "anywhere": true}, {"email": "alice@example.org", "ranges": ["198.51.100.7"]}]}`
	code, body = apiCall(t, a, "PUT", put, admin, "192.0.2.1")
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if got, _ := json.Marshal(st.Rules); string(got) != `{"enabled":true,"ranges":["192.0.2.0/24","2001:db8::/32"],"country_mode":"allow","countries":["DE"],"exceptions":[{"email":"bob@example.org","anywhere":true},{"email":"alice@example.org","ranges":["198.51.100.7/32"]}]}` {
		t.Errorf("PUT answered %s", got)
	}
	if st.UpdatedBy != "admin@example.org" || st.UpdatedAt == nil {
		t.Errorf("PUT answered %+v", st)
	}
	if r := m.rules["t"]; !r.Enabled || len(r.Exceptions) != 2 {
		t.Errorf("stored %+v", r)
	}
	last := rec.records[len(rec.records)-1]
	if last.action != "firewall.changed" || last.actor != "admin@example.org" || last.ip != "192.0.2.1" {
		t.Errorf("audit %+v", last)
	}

	for _, c := range []struct {
		name, body string
		status     int
		detail     string
	}{
		{"bad range", `{"enabled": true, "ranges": ["192.0.2.0/24", "10.0.0.300/8"]}`, 400, "ranges item 2: 10.0.0.300/8 is not a CIDR range"},
		{"unknown field", `{"enabled": true, "rangez": []}`, 400, "unknown field"},
		{"two values", `{} {}`, 400, "more than one"},
		{"bad country", `{"country_mode": "allow", "countries": ["DEU"]}`, 400, "DEU is not a two-letter country code"},
		{"bad mode", `{"country_mode": "maybe", "countries": ["DE"]}`, 400, "allow, deny or none"},
		{"countries without mode", `{"countries": ["DE"]}`, 400, "set country_mode"},
		{"exception both", `{"exceptions": [{"email": "bob@example.org", "anywhere": true, "ranges": ["10.0.0.0/8"]}]}`, 400, "exceptions item 1"},
		{"unknown user", `{"exceptions": [{"email": "nobody@example.org", "anywhere": true}]}`, 400, "no user nobody@example.org"},
		{"lockout", `{"enabled": true, "ranges": ["10.0.0.0/8"]}`, 409, "would lock you out: your address 192.0.2.1"},
	} {
		code, body := apiCall(t, a, "PUT", c.body, admin, "192.0.2.1")
		if code != c.status || !strings.Contains(body, c.detail) || !strings.Contains(body, `"status":`) {
			t.Errorf("%s: %d %s; want %d with %q", c.name, code, body, c.status, c.detail)
		}
	}
	// The lockout was not stored.
	if r := m.rules["t"]; len(r.Ranges) != 2 {
		t.Errorf("refused PUT changed the rules: %+v", r)
	}
}
