package main

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/auth"
)

// browser is an HTTPS client with a cookie jar, as a browser signs in.
type browser struct {
	t   *testing.T
	srv running
	hc  *http.Client
}

func newBrowser(t *testing.T, srv running) *browser {
	t.Helper()
	hc := httpsClient(t, srv)
	hc.Jar, _ = cookiejar.New(nil)
	return &browser{t: t, srv: srv, hc: hc}
}

// do sends a request (a form when form is not nil) and returns where the redirects
// ended, the status and the body.
func (b *browser) do(method, path string, form url.Values) (string, int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.srv.url+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.Request.URL.Path, resp.StatusCode, string(raw)
}

func (b *browser) cookie() string {
	u, _ := url.Parse(b.srv.url)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == auth.CookieName {
			return c.Value
		}
	}
	return ""
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := auth.TOTPCode(secret, at, 6, otp.AlgorithmSHA1)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	secretRe = regexp.MustCompile(`name="secret" value="([A-Z2-7]{32})"`)
	codesRe  = regexp.MustCompile(`<li><code>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</code></li>`)
)

// account is a user who has finished the first sign-in.
type account struct {
	email, password, secret string
	recovery                []string
	b                       *browser
}

// firstSignIn signs in with a one-time password and goes through the forced steps: a
// new password, then two-factor set-up when the account needs it.
func firstSignIn(t *testing.T, srv running, email, oneTime string) *account {
	t.Helper()
	b := newBrowser(t, srv)
	a := &account{email: email, password: "a long passphrase for " + email, b: b}
	at, status, _ := b.do("POST", "/signin", url.Values{"email": {email}, "password": {oneTime}})
	if at != "/account/password" || status != 200 {
		t.Fatalf("first sign-in ended at %s (%d), want the forced password change", at, status)
	}
	at, status, body := b.do("POST", "/account/password", url.Values{"current": {oneTime}, "new": {a.password}, "confirm": {a.password}})
	if status != 200 {
		t.Fatalf("password change: %d %s", status, body)
	}
	if at == "/account/2fa" {
		m := secretRe.FindStringSubmatch(body)
		if m == nil || !strings.Contains(body, `src="data:image/png;base64,`) {
			t.Fatalf("2FA set-up page without QR code and secret: %s", body)
		}
		a.secret = m[1]
		_, status, body = b.do("POST", "/account/2fa", url.Values{"secret": {a.secret}, "code": {totpCode(t, a.secret, time.Now())}})
		for _, c := range codesRe.FindAllStringSubmatch(body, -1) {
			a.recovery = append(a.recovery, c[1])
		}
		if status != 200 || len(a.recovery) != auth.RecoveryCodeCount {
			t.Fatalf("2FA set-up: %d, %d recovery codes", status, len(a.recovery))
		}
		at, status, _ = b.do("GET", "/recordings", nil)
	}
	if at != "/recordings" || status != 200 {
		t.Fatalf("after the first sign-in's steps: %s (%d)", at, status)
	}
	return a
}

// TestAccountsEndToEnd drives the real server over HTTPS on both backends: forced
// password change with the policy's reasons, administrators sent to set up 2FA, TOTP
// codes once each, recovery codes once each, session rotation and cookie attributes,
// sessions listed and revoked, lock and unlock audited, a tenant requiring 2FA, and
// cross-origin posts refused.
func TestAccountsEndToEnd(t *testing.T) {
	for name, setup := range backends(t) {
		t.Run(name, func(t *testing.T) {
			srv := start(t, setup)
			email := "dean@uni.example"
			oneTime := password(t, runCLI(t, srv.getenv, "admin", "create", "--tenant", "Uni", "--email", email))

			// The forced steps come before anything else.
			b := newBrowser(t, srv)
			b.do("GET", "/signin", nil)
			planted := strings.Repeat("A", 43)
			u, _ := url.Parse(srv.url)
			b.hc.Jar.SetCookies(u, []*http.Cookie{{Name: auth.CookieName, Value: planted, Path: "/"}})
			at, _, _ := b.do("POST", "/signin", url.Values{"email": {email}, "password": {oneTime}})
			if at != "/account/password" {
				t.Fatalf("sign-in with a one-time password ended at %s", at)
			}
			if c := b.cookie(); c == planted || c == "" {
				t.Fatal("the session token planted before sign-in was kept")
			}
			if at, _, _ := b.do("GET", "/recordings", nil); at != "/account/password" {
				t.Errorf("recordings before the forced change: ended at %s", at)
			}
			for _, c := range []struct{ pw, reason string }{
				{"fourteen chars", "it needs at least 15"},
				{"1qaz2wsx3edc4rfv", "list of common and breached passwords"},
				{strings.Repeat("x", 1025), "at most 1024"},
			} {
				_, status, body := b.do("POST", "/account/password", url.Values{"current": {oneTime}, "new": {c.pw}, "confirm": {c.pw}})
				if status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(body), c.reason) {
					t.Errorf("new password %.20q: %d, want the reason %q shown", c.pw, status, c.reason)
				}
			}
			newPW := "fifteen chars 🎓"
			at, _, body := b.do("POST", "/account/password", url.Values{"current": {oneTime}, "new": {newPW}, "confirm": {newPW}})
			if at != "/account/2fa" {
				t.Fatalf("an administrator without 2FA after the password change: ended at %s", at)
			}
			if at, _, _ := b.do("GET", "/recordings", nil); at != "/account/2fa" {
				t.Errorf("recordings before 2FA set-up: ended at %s", at)
			}
			secret := secretRe.FindStringSubmatch(body)[1]
			if _, status, _ := b.do("POST", "/account/2fa", url.Values{"secret": {secret}, "code": {"000000"}}); status != http.StatusUnauthorized {
				t.Errorf("wrong enrolment code: %d", status)
			}
			now := time.Now()
			_, _, body = b.do("POST", "/account/2fa", url.Values{"secret": {secret}, "code": {totpCode(t, secret, now)}})
			var recovery []string
			for _, m := range codesRe.FindAllStringSubmatch(body, -1) {
				recovery = append(recovery, m[1])
			}
			if len(recovery) != 10 {
				t.Fatalf("%d recovery codes shown", len(recovery))
			}
			if at, status, _ := b.do("GET", "/recordings", nil); at != "/recordings" || status != 200 {
				t.Fatalf("after set-up: %s %d", at, status)
			}

			// Second sign-in: password, then a code; each code once.
			b2 := newBrowser(t, srv)
			resp := signinResponse(t, b2, email, newPW)
			if at := resp.Request.URL.Path; at != "/signin/2fa" {
				t.Fatalf("sign-in with 2FA ended at %s", at)
			}
			if at, _, _ := b2.do("GET", "/recordings", nil); at != "/signin/2fa" {
				t.Errorf("recordings with only the password: ended at %s", at)
			}
			mfaToken := b2.cookie()
			if _, status, body := b2.do("POST", "/signin/2fa", url.Values{"code": {totpCode(t, secret, now)}}); status != http.StatusUnauthorized || !strings.Contains(body, "used already") {
				t.Errorf("the enrolment code again: %d", status)
			}
			next := totpCode(t, secret, now.Add(30*time.Second))
			if at, _, _ := b2.do("POST", "/signin/2fa", url.Values{"code": {next}}); at != "/recordings" {
				t.Fatalf("a fresh code: ended at %s", at)
			}
			if b2.cookie() == mfaToken {
				t.Error("the token was not rotated after the second factor")
			}
			b3 := newBrowser(t, srv)
			signinResponse(t, b3, email, newPW)
			if _, status, _ := b3.do("POST", "/signin/2fa", url.Values{"code": {next}}); status != http.StatusUnauthorized {
				t.Errorf("a code used at another sign-in: %d", status)
			}
			if at, _, _ := b3.do("POST", "/signin/2fa", url.Values{"code": {strings.ToLower(recovery[0])}}); at != "/recordings" {
				t.Errorf("a recovery code: ended at %s", at)
			}
			b4 := newBrowser(t, srv)
			signinResponse(t, b4, email, newPW)
			if _, status, _ := b4.do("POST", "/signin/2fa", url.Values{"code": {recovery[0]}}); status != http.StatusUnauthorized {
				t.Errorf("a recovery code twice: %d", status)
			}

			// Sessions: listed; one revoked from another; sign-out everywhere.
			_, _, page := b.do("GET", "/account/sessions", nil)
			ids := regexp.MustCompile(`/account/sessions/([0-9a-f-]{36})/revoke`).FindAllStringSubmatch(page, -1)
			if len(ids) < 2 || !strings.Contains(page, "this browser") {
				t.Fatalf("sessions page lists %d other sessions", len(ids))
			}
			for _, id := range ids {
				b.do("POST", "/account/sessions/"+id[1]+"/revoke", url.Values{})
			}
			if at, _, _ := b2.do("GET", "/recordings", nil); at != "/signin" {
				t.Errorf("a revoked session still works: %s", at)
			}
			if at, _, _ := b.do("GET", "/recordings", nil); at != "/recordings" {
				t.Errorf("revoking the others ended this one: %s", at)
			}

			// Administrators: lock and unlock, audited; a reset password is forced to change.
			viewerPW := password(t, runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "student@uni.example"))
			viewer := firstSignIn(t, srv, "student@uni.example", viewerPW)
			if viewer.secret != "" {
				t.Error("a viewer was made to set up 2FA without the tenant requiring it")
			}
			_, _, users := b.do("GET", "/admin/users", nil)
			vid := regexp.MustCompile(`(?s)student@uni\.example</td>.*?/admin/users/([0-9a-f-]{36})/lock`).FindAllStringSubmatch(users, -1)
			if len(vid) != 1 {
				t.Fatalf("users page has no lock button for the student: %s", users)
			}
			b.do("POST", "/admin/users/"+vid[0][1]+"/lock", url.Values{})
			if at, _, _ := viewer.b.do("GET", "/recordings", nil); at != "/signin" {
				t.Errorf("a locked user's session still works: %s", at)
			}
			_, status, body := newBrowser(t, srv).do("POST", "/signin", url.Values{"email": {viewer.email}, "password": {viewer.password}})
			if status != http.StatusForbidden || !strings.Contains(body, "locked") {
				t.Errorf("locked account's sign-in: %d", status)
			}
			runCLI(t, srv.getenv, "user", "unlock", "--email", viewer.email)
			audit := runCLI(t, srv.getenv, "audit", "list", "--tenant", "Uni")
			for _, want := range []string{"account.locked", "account.unlocked", "signin.refused", "2fa.enabled", "password.changed"} {
				if !strings.Contains(audit, want) {
					t.Errorf("audit lacks %s:\n%s", want, audit)
				}
			}
			// A tenant that requires 2FA sends everyone to set it up, and accepts 12 characters.
			runCLI(t, srv.getenv, "tenant", "policy", "--tenant", "Uni", "--require-2fa", "true")
			b5 := newBrowser(t, srv)
			if at, _, _ := b5.do("POST", "/signin", url.Values{"email": {viewer.email}, "password": {viewer.password}}); at != "/account/2fa" {
				t.Errorf("tenant requires 2FA: the viewer's sign-in ended at %s", at)
			}
			pw2 := password(t, runCLI(t, srv.getenv, "user", "reset-password", "--email", viewer.email))
			b6 := newBrowser(t, srv)
			b6.do("POST", "/signin", url.Values{"email": {viewer.email}, "password": {pw2}})
			if at, status, _ := b6.do("POST", "/account/password", url.Values{"current": {pw2}, "new": {"twelve chars"}, "confirm": {"twelve chars"}}); at != "/account/2fa" || status != 200 {
				t.Errorf("12 characters with 2FA required: %s %d", at, status)
			}

			// Cross-origin posts are refused.
			req, _ := http.NewRequest("POST", srv.url+"/account/sessions/revoke-all", strings.NewReader(""))
			req.Header.Set("Origin", "https://evil.example")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			r, err := b.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site sign-out everywhere: %d", r.StatusCode)
			}
			if at, _, _ := b.do("POST", "/account/sessions/revoke-all", url.Values{}); at != "/signin" {
				t.Errorf("sign-out everywhere ended at %s", at)
			}
			if at, _, _ := b.do("GET", "/recordings", nil); at != "/signin" {
				t.Errorf("after sign-out everywhere: %s", at)
			}
		})
	}
}

// signinResponse posts the sign-in form and checks the session cookie's attributes.
func signinResponse(t *testing.T, b *browser, email, pw string) *http.Response {
	t.Helper()
	hc := *b.hc
	var first *http.Response
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if first == nil {
			first = req.Response
		}
		return nil
	}
	resp, err := hc.PostForm(b.srv.url+"/signin", url.Values{"email": {email}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if first == nil {
		t.Fatalf("sign-in did not redirect: %d", resp.StatusCode)
	}
	set := first.Header.Get("Set-Cookie")
	for _, attr := range []string{auth.CookieName + "=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(set, attr) {
			t.Errorf("Set-Cookie %q lacks %s", set, attr)
		}
	}
	if strings.Contains(strings.ToLower(set), "domain=") {
		t.Errorf("Set-Cookie %q names a domain", set)
	}
	return resp
}

// TestSignInThrottled: after a few failures the next attempt is answered 429 with the
// wait, even with the right password.
func TestSignInThrottled(t *testing.T) {
	srv := start(t, func(*testing.T, *server.Config) {})
	email := "slow@uni.example"
	pw := password(t, runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", email))
	b := newBrowser(t, srv)
	for range 3 {
		if _, status, _ := b.do("POST", "/signin", url.Values{"email": {email}, "password": {"wrong wrong wrong"}}); status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", status)
		}
	}
	_, status, body := b.do("POST", "/signin", url.Values{"email": {email}, "password": {pw}})
	if status != http.StatusTooManyRequests || !strings.Contains(body, "Try again in") {
		t.Errorf("right password right after 3 failures: %d, want 429", status)
	}
}
