package main

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/oauth"
)

var signInLinkRe = regexp.MustCompile(`href="(/signin\?next=[^"]+)"`)

// signInFirst opens path (or a full URL) in b, which is not signed in, expects the
// recorder's "Sign in first" page, and returns the sign-in link it offers and the
// return path the link carries.
func signInFirst(t *testing.T, srv running, b *browser, target string) (link, next string) {
	t.Helper()
	if !strings.HasPrefix(target, "https://") {
		target = srv.url + target
	}
	resp, err := stopAtLoopback(b).Get(target)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := signInLinkRe.FindSubmatch(body)
	if resp.StatusCode != http.StatusUnauthorized || m == nil {
		t.Fatalf("%s without a session: %d %s", resp.Request.URL.Path, resp.StatusCode, body)
	}
	link = html.UnescapeString(string(m[1]))
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return link, u.Query().Get("next")
}

// approve allows the authorization request of the consent page body as b and returns
// the code the loopback redirect received.
func approve(t *testing.T, srv running, b *browser, body, state string) string {
	t.Helper()
	m := consentIDRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no consent form in %s", body)
	}
	resp, err := stopAtLoopback(b).PostForm(srv.url+"/oauth/consent", url.Values{"id": {m[1]}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || resp.StatusCode != http.StatusFound || loc.Host != "127.0.0.1:49152" || loc.Query().Get("state") != state {
		t.Fatalf("after consent: %d to %v (%v)", resp.StatusCode, loc, err)
	}
	return loc.Query().Get("code")
}

// TestSignInReturnsToRecorder: a user who is not signed in when the desktop recorder
// opens the browser at the consent page is sent to sign in, and after the sign-in's
// steps (a forced password change, a TOTP code) comes back to the same consent page,
// approves, and the recorder's PKCE flow completes with golang.org/x/oauth2. The same
// holds for the device page. A return to anywhere but a few local pages is ignored.
func TestSignInReturnsToRecorder(t *testing.T) {
	srv := start(t, func(*testing.T, *server.Config) {})
	ctx := oauthCtx(t, srv)
	cfg := &oauth2.Config{ClientID: oauth.RecorderClientID, Scopes: []string{"ingest", "offline_access"},
		RedirectURL: "http://127.0.0.1:49152/callback",
		Endpoint: oauth2.Endpoint{AuthURL: srv.url + oauth.AuthorizePath, TokenURL: srv.url + oauth.TokenPath,
			AuthStyle: oauth2.AuthStyleInParams}}

	// recorderSignIn is the recorder's flow for a browser that is not signed in; signIn
	// takes b from the sign-in page through its steps and returns where it ended.
	recorderSignIn := func(t *testing.T, b *browser, signIn func() (string, int, string)) {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		authURL := cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier))
		link, next := signInFirst(t, srv, b, authURL)
		if !strings.HasPrefix(next, "/oauth/consent?id=") {
			t.Fatalf("the sign-in link %s returns to %q, want the consent page", link, next)
		}
		if at, status, _ := b.do("GET", link, nil); at != "/signin" || status != http.StatusOK {
			t.Fatalf("sign-in link: %s %d", at, status)
		}
		at, status, body := signIn()
		if at != "/oauth/consent" || status != http.StatusOK || !strings.Contains(body, "Allow the recorder") {
			t.Fatalf("after signing in: %s %d, want the consent page %s", at, status, next)
		}
		code := approve(t, srv, b, body, "st4te")
		tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("token %+v", tok)
		}
		if got := ingestStatus(t, srv, tok.AccessToken); got != http.StatusOK {
			t.Errorf("the recorder's access token on the ingest API: %d", got)
		}
		// The return is used once: the next sign-in in this browser ends as usual.
		if at, _, _ := b.do("GET", "/recordings", nil); at != "/recordings" {
			t.Errorf("recordings after the recorder's sign-in: %s", at)
		}
		if u, _ := url.Parse(srv.url); len(b.hc.Jar.Cookies(u)) != 1 {
			t.Errorf("cookies left after the sign-in: %v", b.hc.Jar.Cookies(u))
		}
	}

	t.Run("first sign-in with a forced password change", func(t *testing.T) {
		oneTime := password(t, runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "new@uni.example", "--role", "creator"))
		b := newBrowser(t, srv)
		recorderSignIn(t, b, func() (string, int, string) {
			if at, _, _ := b.do("POST", "/signin", url.Values{"email": {"new@uni.example"}, "password": {oneTime}}); at != "/account/password" {
				t.Fatalf("sign-in with a one-time password ended at %s", at)
			}
			pw := "a long passphrase for new@uni.example"
			return b.do("POST", "/account/password", url.Values{"current": {oneTime}, "new": {pw}, "confirm": {pw}})
		})
	})

	// An administrator, who has TOTP.
	oneTime := password(t, runCLI(t, srv.getenv, "admin", "create", "--tenant", "Uni", "--email", "dean@uni.example"))
	dean := firstSignIn(t, srv, "dean@uni.example", oneTime)
	t.Run("with a TOTP code", func(t *testing.T) {
		b := newBrowser(t, srv)
		recorderSignIn(t, b, func() (string, int, string) {
			if at, _, _ := b.do("POST", "/signin", url.Values{"email": {dean.email}, "password": {dean.password}}); at != "/signin/2fa" {
				t.Fatalf("sign-in ended at %s, want the second step", at)
			}
			// The next step's code: firstSignIn used the current one.
			return b.do("POST", "/signin/2fa", url.Values{"code": {totpCode(t, dean.secret, time.Now().Add(30*time.Second))}})
		})
	})

	teacher := firstSignIn(t, srv, "teacher@uni.example",
		password(t, runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "teacher@uni.example", "--role", "creator")))
	t.Run("device page", func(t *testing.T) {
		b := newBrowser(t, srv)
		link, next := signInFirst(t, srv, b, oauth.DevicePath+"?user_code=bcdf-ghjk")
		if next != oauth.DevicePath+"?user_code=bcdf-ghjk" {
			t.Errorf("the device page's sign-in link returns to %q", next)
		}
		b.do("GET", link, nil)
		at, status, body := b.do("POST", "/signin", url.Values{"email": {teacher.email}, "password": {teacher.password}})
		if at != oauth.DevicePath || status != http.StatusOK || !strings.Contains(body, "BCDF-GHJK") {
			t.Errorf("after signing in from the device page: %s %d", at, status)
		}
	})

	t.Run("a form sent without a session returns to its page", func(t *testing.T) {
		b := newBrowser(t, srv)
		resp, err := b.hc.PostForm(srv.url+"/oauth/consent", url.Values{"id": {"0195f0b2-0000-7000-8000-000000000001"}, "decision": {"allow"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := signInLinkRe.FindSubmatch(body)
		if resp.StatusCode != http.StatusUnauthorized || m == nil {
			t.Fatalf("consent posted without a session: %d %s", resp.StatusCode, body)
		}
		link, _ := url.Parse(html.UnescapeString(string(m[1])))
		if next := link.Query().Get("next"); next != "/oauth/consent?id=0195f0b2-0000-7000-8000-000000000001" {
			t.Errorf("consent posted without a session: the sign-in link returns to %q", next)
		}
	})

	t.Run("no open redirect", func(t *testing.T) {
		for _, next := range []string{"//evil.example", "/\\evil.example", "https://evil.example/oauth/consent?id=x",
			"/admin/users", "/recordings/../admin/users"} {
			b := newBrowser(t, srv)
			if _, status, _ := b.do("GET", "/signin?next="+url.QueryEscape(next), nil); status != http.StatusOK {
				t.Fatalf("sign-in page with next=%s: %d", next, status)
			}
			if u, _ := url.Parse(srv.url); len(b.hc.Jar.Cookies(u)) != 0 {
				t.Errorf("next=%s was remembered: %v", next, b.hc.Jar.Cookies(u))
			}
			if at, _, _ := b.do("POST", "/signin", url.Values{"email": {teacher.email}, "password": {teacher.password}}); at != "/recordings" {
				t.Errorf("sign-in with next=%s ended at %s", next, at)
			}
		}
		// A remembered return is forgotten when the next sign-in page asks for none
		// valid, and a cookie planted by hand is checked when used.
		b := newBrowser(t, srv)
		b.do("GET", "/signin?next="+url.QueryEscape("/oauth/device"), nil)
		b.do("GET", "/signin?next="+url.QueryEscape("//evil.example"), nil)
		if at, _, _ := b.do("POST", "/signin", url.Values{"email": {teacher.email}, "password": {teacher.password}}); at != "/recordings" {
			t.Errorf("a replaced return: sign-in ended at %s", at)
		}
	})
}

// TestSSOSignInReturns: single sign-on ends, like a password sign-in, on the page the
// sign-in was begun from, once.
func TestSSOSignInReturns(t *testing.T) {
	srv, idp := ssoServer(t, func(*testing.T, *server.Config) {})
	c := newSSOClient(t, srv)
	next := oauth.DevicePath + "?user_code=BCDF-GHJK"
	if res := get(t, c.hc, srv.url+"/signin?next="+url.QueryEscape(next)); res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page: %d", res.StatusCode)
	}
	authURL := c.begin()
	cb := idp.login(t, c.hc, authURL.String(), idpUser, idpPassword)
	if at := location(t, get(t, c.hc, cb.String()), http.StatusSeeOther); at.RequestURI() != next {
		t.Errorf("single sign-on ended at %s, want %s", at.RequestURI(), next)
	}
	if c.cookie("__Host-aula-next") != "" {
		t.Error("the return was kept after use")
	}
}
