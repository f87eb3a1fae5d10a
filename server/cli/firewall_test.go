package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/firewall"
	"github.com/aulacapture/aula/server/firewall/firewalltest"
	"github.com/aulacapture/aula/server/store"
)

// testEnv runs commands on one data directory with the given environment.
type testEnv struct {
	t   *testing.T
	env map[string]string
}

func newTestEnv(t *testing.T, env map[string]string) *testEnv {
	if env == nil {
		env = map[string]string{}
	}
	env["AULA_DATA"] = t.TempDir()
	return &testEnv{t: t, env: env}
}

func (e *testEnv) run(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = Run(context.Background(), Env{Args: args, Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return e.env[k] }})
	return out.String(), errb.String(), err
}

func (e *testEnv) must(args ...string) string {
	e.t.Helper()
	out, errs, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("aula-server %v: %v: %s", args, err, errs)
	}
	return out
}

// open opens the server's stores (not serving) for a look at what commands did.
func (e *testEnv) open() *server.Server {
	e.t.Helper()
	cfg := server.Default()
	if err := cfg.LoadEnv(func(k string) string { return e.env[k] }); err != nil {
		e.t.Fatal(err)
	}
	srv, err := server.Open(context.Background(), cfg, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { srv.Close() })
	return srv
}

func auditOf(t *testing.T, srv *server.Server, tenant, action string) []store.AuditEvent {
	t.Helper()
	ctx := context.Background()
	tn, err := srv.Meta.TenantByName(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	events, err := srv.Meta.AuditEvents(ctx, tn.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, e := range events {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func TestFirewallCommands(t *testing.T) {
	e := newTestEnv(t, nil)
	e.must("admin", "create", "--tenant", "Uni", "--email", "admin@uni.example")
	if out := e.must("firewall", "show", "--tenant", "Uni"); !strings.Contains(out, "firewall: off\nranges: none\ncountries: none\n") {
		t.Errorf("show before any rule:\n%s", out)
	}
	out := e.must("firewall", "set", "--tenant", "Uni", "--allow", "10.0.0.0/8, 2001:db8::/32", "--countries", "deny:ru")
	want := "firewall: on\nranges: 10.0.0.0/8 2001:db8::/32\ncountries: deny:RU (not enforced: no GeoIP database configured)\nexceptions: none\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("set printed\n%s\nwant\n%s", out, want)
	}
	if show := e.must("firewall", "show", "--tenant", "Uni"); !strings.HasPrefix(show, want) || !strings.Contains(show, "by cli") {
		t.Errorf("show after set:\n%s", show)
	}
	// --off keeps the rules; other flags not given stay as they were.
	if out := e.must("firewall", "set", "--tenant", "Uni", "--off"); !strings.HasPrefix(out, "firewall: off\nranges: 10.0.0.0/8 2001:db8::/32\ncountries: deny:RU") {
		t.Errorf("--off printed\n%s", out)
	}
	if out := e.must("firewall", "set", "--tenant", "Uni", "--allow", "none", "--countries", "none"); !strings.HasPrefix(out, "firewall: on\nranges: none\ncountries: none\n") {
		t.Errorf("clearing printed\n%s", out)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--allow", "10.0.0.0/8,10.0.0.300/8"}, "--allow: range 2: 10.0.0.300/8 is not a CIDR range"},
		{[]string{"--countries", "DE,FR"}, "--countries: "},
		{[]string{"--countries", "allow:DEU"}, "DEU is not a two-letter country code"},
	} {
		_, errs, err := e.run(append([]string{"firewall", "set", "--tenant", "Uni"}, c.args...)...)
		if !errors.Is(err, ErrUsage) || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: %v, %q; want usage error with %q", c.args, err, errs, c.msg)
		}
	}
	if _, _, err := e.run("firewall", "set", "--tenant", "Nope", "--off"); err == nil {
		t.Error("unknown tenant accepted")
	}

	changes := auditOf(t, e.open(), "Uni", "firewall.changed")
	if len(changes) != 3 {
		t.Fatalf("%d firewall.changed records, want 3: %+v", len(changes), changes)
	}
	wantDetail := "on; ranges: 10.0.0.0/8 2001:db8::/32; countries: deny RU; exceptions: none"
	if !slices.ContainsFunc(changes, func(e store.AuditEvent) bool { return e.Actor == "cli" && e.Detail == wantDetail }) {
		t.Errorf("no record of the first change (%q) in %+v", wantDetail, changes)
	}
}

// TestFirewallSignin runs a real server behind a trusted proxy (127.0.0.1, so the test
// speaks for any address with X-Forwarded-For): a sign-in from an address the tenant
// does not allow is refused with 403 and the sentence, and recorded; one in a range,
// or by a user with an exception, goes on to the next step.
func TestFirewallSignin(t *testing.T) {
	e := newTestEnv(t, map[string]string{"AULA_TRUSTED_PROXIES": "127.0.0.1"})
	adminPW := password(t, e.must("admin", "create", "--tenant", "Uni", "--email", "admin@uni.example"))
	guestPW := password(t, e.must("user", "create", "--tenant", "Uni", "--email", "guest@uni.example"))
	e.must("firewall", "set", "--tenant", "Uni", "--allow", "10.0.0.0/8,2001:db8:a::/48")
	// The exception goes in before the server starts, so no cached copy hides it.
	func() {
		srv := e.open()
		ctx := context.Background()
		tn, err := srv.Meta.TenantByName(ctx, "Uni")
		if err != nil {
			t.Fatal(err)
		}
		r, err := srv.Firewall().Rules(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		r.Exceptions = []firewall.Exception{{Email: "guest@uni.example", Anywhere: true}}
		if _, err := srv.Firewall().Set(ctx, firewall.Change{TenantID: tn.ID, Rules: r, Actor: "cli"}); err != nil {
			t.Fatal(err)
		}
		srv.Close()
	}()

	srv := serve(t, e)
	signin := func(email, pw, xff string) (int, string) { t.Helper(); return srv.signin(t, email, pw, xff) }

	status, body := signin("admin@uni.example", adminPW, "198.51.100.7")
	if status != http.StatusForbidden || !strings.Contains(body, "Your address 198.51.100.7 is not allowed for this organisation.") {
		t.Errorf("from a denied address: %d\n%s", status, body)
	}
	status, body = signin("admin@uni.example", adminPW, "2001:db8:b::1")
	if status != http.StatusForbidden || !strings.Contains(body, "Your address 2001:db8:b::1 is not allowed") {
		t.Errorf("from a denied IPv6 address: %d\n%s", status, body)
	}
	// A client's own X-Forwarded-For entry left of the proxy's is not believed.
	status, _ = signin("admin@uni.example", adminPW, "10.1.2.3, 198.51.100.7")
	if status != http.StatusForbidden {
		t.Errorf("with a forged hop: %d, want 403", status)
	}
	if status, body := signin("admin@uni.example", adminPW, "10.1.2.3"); status != http.StatusSeeOther {
		t.Errorf("from an allowed address: %d\n%s", status, body)
	}
	if status, body := signin("admin@uni.example", adminPW, "2001:db8:a::1"); status != http.StatusSeeOther {
		t.Errorf("from an allowed IPv6 address: %d\n%s", status, body)
	}
	if status, body := signin("guest@uni.example", guestPW, "198.51.100.7"); status != http.StatusSeeOther {
		t.Errorf("with an exception: %d\n%s", status, body)
	}

	refused := auditOf(t, e.open(), "Uni", "signin.refused")
	var ips []string
	for _, r := range refused {
		if r.Detail != "firewall" || r.Actor != "admin@uni.example" {
			t.Errorf("signin.refused record %+v", r)
		}
		ips = append(ips, r.IP)
	}
	slices.Sort(ips)
	if !slices.Equal(ips, []string{"198.51.100.7", "198.51.100.7", "2001:db8:b::1"}) {
		t.Errorf("signin.refused from %v", ips)
	}
}

// TestFirewallCountrySignin: with a GeoIP database configured, a country rule refuses a
// sign-in from the country it denies and lets others in.
func TestFirewallCountrySignin(t *testing.T) {
	e := newTestEnv(t, map[string]string{"AULA_TRUSTED_PROXIES": "127.0.0.0/8", "AULA_GEOIP_DATABASE": firewalltest.WriteGeoIP(t, nil)})
	pw := password(t, e.must("admin", "create", "--tenant", "Uni", "--email", "admin@uni.example"))
	if out := e.must("firewall", "set", "--tenant", "Uni", "--countries", "deny:RU"); !strings.Contains(out, "countries: deny:RU\n") {
		t.Errorf("set printed\n%s", out)
	}
	srv := serve(t, e)
	if status, body := srv.signin(t, "admin@uni.example", pw, "198.51.100.7"); status != http.StatusForbidden ||
		!strings.Contains(body, "Your address 198.51.100.7 (RU) is not allowed for this organisation.") {
		t.Errorf("from RU: %d\n%s", status, body)
	}
	for _, from := range []string{"203.0.113.9", "2001:db8:de::1", "192.0.2.1"} { // DE, DE, nowhere
		if status, body := srv.signin(t, "admin@uni.example", pw, from); status != http.StatusSeeOther {
			t.Errorf("from %s: %d\n%s", from, status, body)
		}
	}
}

// running is a server the test started.
type running struct {
	url    string
	client *http.Client // trusts the server's certificate; follows no redirect
}

// signin posts the sign-in form as if from xff (the server trusts 127.0.0.1's
// X-Forwarded-For) and returns the status and body.
func (s running) signin(t *testing.T, email, pw, xff string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url+"/signin", strings.NewReader(url.Values{"email": {email}, "password": {pw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var passwordLine = regexp.MustCompile(`(?m)^password: (\S+)$`)

func password(t *testing.T, out string) string {
	t.Helper()
	m := passwordLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no password in %q", out)
	}
	return m[1]
}

// serve runs the server on the test's data until the test ends.
func serve(t *testing.T, e *testEnv) running {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- Run(ctx, Env{Args: []string{"serve", "--listen", addr, "--log-format", "text"}, Stdout: io.Discard,
			Stderr: &logs, Getenv: func(k string) string { return e.env[k] }, Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	pem, err := os.ReadFile(filepath.Join(e.env["AULA_DATA"], "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in cert.pem")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	return running{url: "https://" + addr, client: &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}
