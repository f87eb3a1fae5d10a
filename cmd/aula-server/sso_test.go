package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/oauth2"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/sso"
)

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
func encodeSegment(b []byte) string          { return base64.RawURLEncoding.EncodeToString(b) }

// ssoServer starts Aula and a real OpenID provider, and sets the provider as tenant
// Uni's single sign-on through the command line, with the group claim "groups" and the
// e-mail domain uni.example.
func ssoServer(t *testing.T, setup func(*testing.T, *server.Config)) (running, *provider) {
	t.Helper()
	srv := start(t, setup)
	idp := startProvider(t, srv.url+server.SSOCallbackPath)
	idp.setGroups(idpSubject, "physics")
	getenv := func(k string) string {
		if k == "AULA_SSO_CLIENT_SECRET" {
			return aulaSecret
		}
		return srv.getenv(k)
	}
	runCLI(t, getenv, "sso", "set", "--tenant", "Uni", "--issuer", idp.issuer, "--client-id", aulaClient,
		"--scopes", "openid email profile groups", "--group-claim", "groups", "--email-domain", "uni.example")
	return srv, idp
}

// groupsOf lists the account's groups through the command line, as "name/source".
func groupsOf(t *testing.T, srv running, email string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(runCLI(t, srv.getenv, "group", "list", "--tenant", "Uni", "--email", email)), "\n") {
		if line != "" {
			out = append(out, strings.ReplaceAll(line, "\t", "/"))
		}
	}
	return out
}

// TestSSOInBrowser signs in with single sign-on in headless Chromium against the real
// provider, on both store combinations: the first sign-in makes the account and lands
// on /recordings; the provider's group claim grants the group; the group removed at
// the provider is removed at the next sign-in, and the new one granted.
func TestSSOInBrowser(t *testing.T) {
	for name, setup := range backends(t) {
		t.Run(name, func(t *testing.T) {
			srv, idp := ssoServer(t, setup)
			browserSSO(t, srv, "first")
			if got := groupsOf(t, srv, idpEmail); strings.Join(got, " ") != "physics/sso" {
				t.Errorf("after the first sign-in: groups %q, want [physics/sso]", got)
			}
			idp.setGroups(idpSubject, "chemistry")
			browserSSO(t, srv, "second")
			if got := groupsOf(t, srv, idpEmail); strings.Join(got, " ") != "chemistry/sso" {
				t.Errorf("after the provider moved the user: groups %q, want [chemistry/sso]", got)
			}
			audit := runCLI(t, srv.getenv, "audit", "list", "--tenant", "Uni", "--limit", "100")
			if n := strings.Count(audit, "account.provisioned"); n != 1 {
				t.Errorf("%d accounts provisioned over two sign-ins, want 1:\n%s", n, audit)
			}
			if !strings.Contains(audit, `removed ["physics"]`) {
				t.Errorf("no audited removal of the group:\n%s", audit)
			}
		})
	}
}

// browserSSO runs e2e/sso.mjs: Chromium opens /recordings, is sent to sign in, types
// the address into the single sign-on form, signs in at the provider's page and must
// come back signed in to /recordings.
func browserSSO(t *testing.T, srv running, shotName string) {
	t.Helper()
	shot := filepath.Join(t.ArtifactDir(), "sso-"+shotName+".png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "e2e/sso.mjs", srv.url, idpEmail, idpUser, idpPassword, shot)
	cmd.Dir = "../.."
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node e2e/sso.mjs: %v (make setup installs chromium and playwright-core): %s", err, raw)
	}
	var res struct {
		Errors   []string
		SignedIn bool
		URL      string
		Heading  string
		AtIdP    string
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("browser said %q", raw)
	}
	t.Logf("browser: %s", raw)
	u, _ := url.Parse(res.URL)
	if !res.SignedIn || u == nil || u.Path != "/recordings" || res.Heading != "Recordings" {
		t.Errorf("sign-in ended at %q (heading %q), want /recordings", res.URL, res.Heading)
	}
	if !strings.HasPrefix(res.AtIdP, "http://127.0.0.1:") {
		t.Errorf("the browser never reached the provider's login page (%q)", res.AtIdP)
	}
	if len(res.Errors) > 0 {
		t.Errorf("errors in the browser: %q", res.Errors)
	}
}

// ssoClient is a browser without JavaScript: a cookie jar, Aula's certificate trusted,
// redirects not followed so each step can be checked.
type ssoClient struct {
	t   *testing.T
	srv running
	hc  *http.Client
}

func newSSOClient(t *testing.T, srv running) *ssoClient {
	hc := httpsClient(t, srv)
	hc.Jar, _ = cookiejar.New(nil)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc.Timeout = 30 * time.Second
	return &ssoClient{t: t, srv: srv, hc: hc}
}

// begin starts single sign-on for ada's address and returns the provider URL Aula
// sends the browser to.
func (c *ssoClient) begin() *url.URL {
	c.t.Helper()
	return location(c.t, get(c.t, c.hc, c.srv.url+"/signin/sso?email="+url.QueryEscape(idpEmail)), http.StatusSeeOther)
}

// cookie returns the value of the named cookie the client holds for Aula.
func (c *ssoClient) cookie(name string) string {
	u, _ := url.Parse(c.srv.url)
	for _, k := range c.hc.Jar.Cookies(u) {
		if k.Name == name {
			return k.Value
		}
	}
	return ""
}

// callback delivers the provider's redirect to Aula, with flowCookie as the sign-in
// cookie ("" for none) and no other cookie, and returns the answer.
func (c *ssoClient) callback(cb *url.URL, flowCookie string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest("GET", cb.String(), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if flowCookie != "" {
		req.AddCookie(&http.Cookie{Name: sso.CookieName, Value: flowCookie})
	}
	hc := *c.hc
	hc.Jar = nil
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// signedIn reports whether res started a session, and whether that session opens
// /recordings.
func (c *ssoClient) signedIn(res *http.Response) bool {
	c.t.Helper()
	var session string
	for _, k := range res.Cookies() {
		if k.Name == auth.CookieName && k.Value != "" {
			session = k.Value
		}
	}
	if session == "" {
		return false
	}
	req, _ := http.NewRequest("GET", c.srv.url+"/recordings", nil)
	req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: session})
	hc := *c.hc
	hc.Jar = nil
	r, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	r.Body.Close()
	return r.StatusCode == http.StatusOK
}

// page returns the body of path, opened with the session res started.
func (c *ssoClient) page(res *http.Response, path string) string {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.srv.url+path, nil)
	for _, k := range res.Cookies() {
		if k.Name == auth.CookieName {
			req.AddCookie(&http.Cookie{Name: k.Name, Value: k.Value})
		}
	}
	hc := *c.hc
	hc.Jar = nil
	r, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// wantRefused checks that res refused the sign-in with status and started no session.
func (c *ssoClient) wantRefused(what string, res *http.Response, status int) {
	c.t.Helper()
	if res.StatusCode != status {
		c.t.Errorf("%s: status %d, want %d", what, res.StatusCode, status)
	}
	for _, k := range res.Cookies() {
		if k.Name == auth.CookieName && k.Value != "" {
			c.t.Errorf("%s: a session cookie was set", what)
		}
	}
}

// withQuery returns u with the query parameters set.
func withQuery(u *url.URL, kv ...string) *url.URL {
	v := *u
	q := v.Query()
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	v.RawQuery = q.Encode()
	return &v
}

// TestSSORefusals drives single sign-on with plain HTTP requests against the real
// provider, on both store combinations, and checks what must be refused: a tampered ID
// token (signature or payload), an ID token for another client (wrong audience), a
// replayed state, a state taken to another browser or without its cookie, a wrong or
// replayed nonce, an e-mail address of an unlinked account, a locked account, and a
// Host the server is not configured for. A good sign-in between them still works.
func TestSSORefusals(t *testing.T) {
	for name, setup := range backends(t) {
		t.Run(name, func(t *testing.T) { ssoRefusals(t, setup) })
	}
}

func ssoRefusals(t *testing.T, setup func(*testing.T, *server.Config)) {
	srv, idp := ssoServer(t, setup)
	// refusals counts the audited refusals that say why.
	refusals := func(why string) int {
		n := 0
		for _, line := range strings.Split(runCLI(t, srv.getenv, "audit", "list", "--tenant", "Uni", "--limit", "500"), "\n") {
			if strings.Contains(line, "signin.sso_refused") && strings.Contains(line, why) {
				n++
			}
		}
		return n
	}
	// good runs one whole sign-in and returns the callback, the flow cookie and the
	// nonce it used.
	good := func() (cb *url.URL, cookie, nonce string) {
		c := newSSOClient(t, srv)
		authURL := c.begin()
		cb = idp.login(t, c.hc, authURL.String(), idpUser, idpPassword)
		return cb, c.cookie(sso.CookieName), authURL.Query().Get("nonce")
	}

	t.Run("authorization request", func(t *testing.T) {
		c := newSSOClient(t, srv)
		u := c.begin()
		q := u.Query()
		if !strings.HasPrefix(u.String(), idp.issuer+"/") || q.Get("client_id") != aulaClient || q.Get("response_type") != "code" ||
			q.Get("redirect_uri") != srv.url+"/signin/sso/callback" || q.Get("code_challenge_method") != "S256" ||
			len(q.Get("code_challenge")) != 43 || len(q.Get("state")) != 43 || len(q.Get("nonce")) != 43 ||
			!strings.Contains(" "+q.Get("scope")+" ", " openid ") || !strings.Contains(q.Get("scope"), "groups") {
			t.Errorf("authorization request %s", u)
		}
		k := c.cookie(sso.CookieName)
		if _, ok := sso.ParseFlowCookie(k); !ok {
			t.Errorf("sign-in cookie %q", k)
		}
	})

	var first *url.URL
	var firstCookie, firstNonce string
	t.Run("good sign-in", func(t *testing.T) {
		first, firstCookie, firstNonce = good()
		c := newSSOClient(t, srv)
		res := c.callback(first, firstCookie)
		if at := location(t, res, http.StatusSeeOther); at.Path != "/recordings" {
			t.Errorf("signed in to %s, want /recordings", at)
		}
		if !c.signedIn(res) {
			t.Error("the session does not open /recordings")
		}
		// The account page says where the person signs in, lists the provider's group
		// and offers no password change: the account has no password.
		body := c.page(res, "/account")
		if !strings.Contains(body, "You sign in through your organisation at "+idp.issuer) ||
			!strings.Contains(body, `<span class="group">physics</span>`) || strings.Contains(body, "/account/password") {
			t.Errorf("account page: %s", body)
		}
		if at, status, _ := newBrowser(t, srv).do("POST", "/signin", url.Values{"email": {idpEmail}, "password": {idpPassword}}); status != http.StatusUnauthorized || at != "/signin" {
			t.Errorf("password sign-in of an SSO account: %s %d, want 401", at, status)
		}
	})
	if first == nil {
		t.Fatal("the good sign-in failed; the refusals would prove nothing")
	}

	t.Run("replayed state", func(t *testing.T) {
		c := newSSOClient(t, srv)
		before := refusals("used state")
		c.wantRefused("the same callback again", c.callback(first, firstCookie), http.StatusBadRequest)
		if refusals("used state") != before+1 {
			t.Error("the refusal was not for the used state")
		}
	})

	t.Run("state in another browser", func(t *testing.T) {
		cb, _, _ := good()
		other := newSSOClient(t, srv)
		other.begin() // the other browser has a sign-in of its own
		before := refusals("state of another browser")
		other.wantRefused("another browser's cookie", other.callback(cb, other.cookie(sso.CookieName)), http.StatusBadRequest)
		if refusals("state of another browser") != before+1 {
			t.Error("the refusal was not for the browser")
		}
		cb2, _, _ := good()
		other.wantRefused("no cookie", other.callback(cb2, ""), http.StatusBadRequest)
		forged := withQuery(cb2, "state", strings.Repeat("A", 43))
		other.wantRefused("unknown state", other.callback(forged, other.cookie(sso.CookieName)), http.StatusBadRequest)
	})

	for _, tc := range []struct {
		name   string
		tamper func(string) string
	}{
		{"tampered signature", tamperSignature},
		{"tampered payload", tamperPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp.setTamper(tc.tamper)
			defer idp.setTamper(nil)
			cb, cookie, _ := good()
			c := newSSOClient(t, srv)
			before := refusals("failed to verify signature")
			c.wantRefused(tc.name, c.callback(cb, cookie), http.StatusUnauthorized)
			if refusals("failed to verify signature") != before+1 {
				t.Error("the refusal was not for the signature")
			}
		})
	}

	t.Run("wrong audience", func(t *testing.T) {
		c := newSSOClient(t, srv)
		authURL := c.begin()
		// Another client of the same provider gets a genuine ID token for ada, with
		// the very nonce of Aula's sign-in: only its audience is wrong.
		verifier := oauth2.GenerateVerifier()
		side := withQuery(authURL, "client_id", otherClient, "redirect_uri", otherRedirct, "state", "side-state-0123456789",
			"code_challenge", oauth2.S256ChallengeFromVerifier(verifier))
		sideCB := idp.login(t, c.hc, side.String(), idpUser, idpPassword)
		oc := oauth2.Config{ClientID: otherClient, ClientSecret: otherSecret, RedirectURL: otherRedirct,
			Endpoint: oauth2.Endpoint{TokenURL: idp.issuer + "/oauth/token"}}
		tok, err := oc.Exchange(context.Background(), sideCB.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		foreign, _ := tok.Extra("id_token").(string)
		if foreign == "" {
			t.Fatal("no id_token for the other client")
		}
		idp.setTamper(func(string) string { return foreign })
		defer idp.setTamper(nil)
		before := refusals("expected audience")
		cb := idp.login(t, c.hc, authURL.String(), idpUser, idpPassword)
		c.wantRefused("ID token for another client", c.callback(cb, c.cookie(sso.CookieName)), http.StatusUnauthorized)
		if refusals("expected audience") != before+1 {
			t.Error("the refusal was not for the audience")
		}
	})

	for _, tc := range []struct{ name, nonce string }{
		{"wrong nonce", strings.Repeat("n", 43)},
		{"replayed nonce", firstNonce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSSOClient(t, srv)
			authURL := withQuery(c.begin(), "nonce", tc.nonce)
			before := refusals("nonce does not match")
			cb := idp.login(t, c.hc, authURL.String(), idpUser, idpPassword)
			c.wantRefused(tc.name, c.callback(cb, c.cookie(sso.CookieName)), http.StatusUnauthorized)
			if refusals("nonce does not match") != before+1 {
				t.Error("the refusal was not for the nonce")
			}
		})
	}

	t.Run("provider refused", func(t *testing.T) {
		// The person cancels at the provider, which sends the browser back with an error;
		// the state is used up all the same.
		c := newSSOClient(t, srv)
		authURL := c.begin()
		cb, _ := url.Parse(srv.url + server.SSOCallbackPath)
		cb = withQuery(cb, "error", "access_denied", "state", authURL.Query().Get("state"))
		c.wantRefused("access_denied", c.callback(cb, c.cookie(sso.CookieName)), http.StatusBadGateway)
		c.wantRefused("its state again", c.callback(cb, c.cookie(sso.CookieName)), http.StatusBadRequest)
	})

	t.Run("e-mail of an unlinked account", func(t *testing.T) {
		runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "grace@uni.example")
		idp.addUser(storage.User{ID: "grace-subject", Username: "grace", Password: idpPassword, Email: "grace@uni.example", EmailVerified: true})
		for range 2 {
			c := newSSOClient(t, srv)
			cb := idp.login(t, c.hc, c.begin().String(), "grace", idpPassword)
			c.wantRefused("same e-mail, not linked", c.callback(cb, c.cookie(sso.CookieName)), http.StatusConflict)
		}
		// Once an administrator links the subject, the account signs in.
		runCLI(t, srv.getenv, "sso", "link", "--tenant", "Uni", "--email", "grace@uni.example", "--issuer", idp.issuer, "--subject", "grace-subject")
		c := newSSOClient(t, srv)
		cb := idp.login(t, c.hc, c.begin().String(), "grace", idpPassword)
		if res := c.callback(cb, c.cookie(sso.CookieName)); !c.signedIn(res) {
			t.Errorf("linked account: status %d, not signed in", res.StatusCode)
		}
	})

	t.Run("locked account", func(t *testing.T) {
		runCLI(t, srv.getenv, "user", "lock", "--tenant", "Uni", "--email", idpEmail)
		defer runCLI(t, srv.getenv, "user", "unlock", "--tenant", "Uni", "--email", idpEmail)
		cb, cookie, _ := good()
		c := newSSOClient(t, srv)
		c.wantRefused("locked", c.callback(cb, cookie), http.StatusForbidden)
	})

	t.Run("host not configured", func(t *testing.T) {
		c := newSSOClient(t, srv)
		req, _ := http.NewRequest("GET", srv.url+"/signin/sso?email="+url.QueryEscape(idpEmail), nil)
		req.Host = "evil.example"
		res, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
			t.Errorf("status %d, Location %q: want 400 and no redirect", res.StatusCode, res.Header.Get("Location"))
		}
	})

	t.Run("still works", func(t *testing.T) {
		cb, cookie, _ := good()
		c := newSSOClient(t, srv)
		if !c.signedIn(c.callback(cb, cookie)) {
			t.Error("a good sign-in after the refusals failed")
		}
	})
}

// TestSSOAdminPage: an administrator sets the tenant's provider in /admin/sso. A bad
// issuer is refused naming the field; a good one is stored after discovery, with the
// secret sealed (never shown again) and the redirect URI to register shown; a viewer may
// not open the page; the groups page lists what sign-ins made.
func TestSSOAdminPage(t *testing.T) {
	srv := start(t, func(*testing.T, *server.Config) {})
	idp := startProvider(t, srv.url+server.SSOCallbackPath)
	idp.setGroups(idpSubject, "physics")
	admin := firstSignIn(t, srv, "boss@uni.example", password(t, runCLI(t, srv.getenv, "admin", "create", "--tenant", "Uni", "--email", "boss@uni.example")))
	b := admin.b

	at, status, body := b.do("GET", "/admin/sso", nil)
	if at != "/admin/sso" || status != 200 || !strings.Contains(body, srv.url+"/signin/sso/callback") {
		t.Fatalf("SSO page: %s %d, redirect URI shown: %v", at, status, strings.Contains(body, "/signin/sso/callback"))
	}
	form := url.Values{"issuer": {"http://idp.uni.example"}, "client_id": {aulaClient}, "client_secret": {aulaSecret},
		"scopes": {"openid email groups"}, "group_claim": {"groups"}, "email_domain": {"uni.example"}}
	if _, status, body := b.do("POST", "/admin/sso", form); status != http.StatusUnprocessableEntity || !strings.Contains(body, "issuer: must be https") {
		t.Errorf("plain-http issuer: %d, want 422 naming the issuer", status)
	}
	form.Set("issuer", idp.issuer+"/nowhere")
	if _, status, _ := b.do("POST", "/admin/sso", form); status != http.StatusBadGateway {
		t.Errorf("issuer without discovery: %d, want 502", status)
	}
	form.Set("issuer", idp.issuer)
	at, status, body = b.do("POST", "/admin/sso", form)
	if at != "/admin/sso" || status != 200 || !strings.Contains(body, "Saved.") || strings.Contains(body, aulaSecret) {
		t.Fatalf("save: %s %d, secret shown: %v", at, status, strings.Contains(body, aulaSecret))
	}
	if out := runCLI(t, srv.getenv, "sso", "show", "--tenant", "Uni"); !strings.Contains(out, idp.issuer) || !strings.Contains(out, "groups") {
		t.Errorf("sso show: %s", out)
	}
	// The secret is stored sealed: in no file of the data directory (database, WAL) in
	// the clear.
	files := 0
	err := filepath.Walk(srv.data, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(raw), aulaSecret) {
			t.Errorf("%s holds the client secret in the clear", p)
		}
		files++
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk %s: %v (%d files)", srv.data, err, files)
	}
	// Saving again without a secret keeps the sealed one: a sign-in still works.
	form.Del("client_secret")
	form.Set("email_domain", "UNI.example")
	if _, status, _ := b.do("POST", "/admin/sso", form); status != 200 {
		t.Fatalf("save without secret: %d", status)
	}
	c := newSSOClient(t, srv)
	cb := idp.login(t, c.hc, c.begin().String(), idpUser, idpPassword)
	if !c.signedIn(c.callback(cb, c.cookie(sso.CookieName))) {
		t.Fatal("sign-in with the kept secret failed")
	}
	if _, status, body := b.do("GET", "/admin/groups", nil); status != 200 || !strings.Contains(body, "<td>physics</td><td>sso</td><td>"+idpEmail+"</td>") {
		t.Errorf("groups page (%d) does not list physics with %s", status, idpEmail)
	}
	// Not for viewers.
	viewer := firstSignIn(t, srv, "student@uni.example", password(t, runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "student@uni.example")))
	if _, status, _ := viewer.b.do("GET", "/admin/sso", nil); status != http.StatusForbidden {
		t.Errorf("viewer opened /admin/sso: %d", status)
	}
	if _, status, _ := viewer.b.do("POST", "/admin/sso/remove", url.Values{}); status != http.StatusForbidden {
		t.Errorf("viewer removed SSO: %d", status)
	}
	// Turning it off keeps the accounts; the sign-in page then says so.
	if at, status, body := b.do("POST", "/admin/sso/remove", url.Values{}); at != "/admin/sso" || status != 200 || !strings.Contains(body, "Single sign-on is off") {
		t.Errorf("remove: %s %d", at, status)
	}
	if _, status, _ := b.do("GET", "/signin/sso?email="+url.QueryEscape(idpEmail), nil); status != http.StatusNotFound {
		t.Errorf("SSO after removal: %d, want 404", status)
	}
}
