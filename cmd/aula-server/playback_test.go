package main

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/auth"
)

// signIn signs in over HTTPS as a browser would, with the one-time password an account
// is made with, going through the forced first steps (a new password, and 2FA set-up
// for administrators; see accounts_test.go), and returns a client holding the session.
func signIn(t *testing.T, srv running, email, password string) *http.Client {
	t.Helper()
	a := firstSignIn(t, srv, email, password)
	if a.b.cookie() == "" {
		t.Fatalf("no %s cookie after sign-in", auth.CookieName)
	}
	return a.b.hc
}

func password(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "password: "); ok {
			return strings.TrimSpace(p)
		}
	}
	t.Fatalf("no password in %q", out)
	return ""
}

// TestPlaybackBoundToViewer: a playback link works only with the session of the viewer
// it was made for; sign-in failures say nothing about which part was wrong; sign-in
// from another site is refused.
func TestPlaybackBoundToViewer(t *testing.T) {
	srv := start(t, func(*testing.T, *server.Config) {})
	_, final := uploadFixture(t, srv)
	alice := signIn(t, srv, "alice@uni.example", password(t, runCLI(t, srv.getenv, "admin", "create", "--tenant", "Uni", "--email", "alice@uni.example")))
	bob := signIn(t, srv, "bob@uni.example", password(t, runCLI(t, srv.getenv, "admin", "create", "--tenant", "Uni", "--email", "bob@uni.example")))
	eve := signIn(t, srv, "eve@other.example", password(t, runCLI(t, srv.getenv, "admin", "create", "--tenant", "Other", "--email", "eve@other.example")))

	get := func(hc *http.Client, path string) (int, string) {
		resp, err := hc.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, page := get(alice, "/recordings/"+final.ID)
	if status != 200 {
		t.Fatalf("player page: %d", status)
	}
	m := regexp.MustCompile(`data-main="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no playback URL in the page")
	}
	master := html.UnescapeString(m[1])
	if status, body := get(alice, master); status != 200 || !strings.Contains(body, "#EXT-X-STREAM-INF") {
		t.Errorf("alice's master playlist: %d %s", status, body)
	}
	seg := strings.TrimSuffix(master, "index.m3u8") + "camera/000001.m4s"
	if status, body := get(alice, seg); status != 200 || !strings.Contains(body[:16], "moof") {
		t.Errorf("alice's segment: %d", status)
	}
	for name, hc := range map[string]*http.Client{"bob": bob, "eve": eve, "nobody": httpsClient(t, srv)} {
		for _, p := range []string{master, seg} {
			if status, _ := get(hc, p); status != http.StatusForbidden {
				t.Errorf("%s fetched alice's %s: %d, want 403", name, p[strings.LastIndex(p, "/"):], status)
			}
		}
	}
	if status, _ := get(eve, "/recordings/"+final.ID); status != http.StatusNotFound {
		t.Errorf("another tenant's player page: %d, want 404", status)
	}
	// Wrong password and unknown account read the same.
	hc := httpsClient(t, srv)
	var bodies []string
	for _, f := range []url.Values{{"email": {"alice@uni.example"}, "password": {"wrong wrong wrong"}}, {"email": {"nobody@uni.example"}, "password": {"wrong wrong wrong"}}} {
		resp, err := hc.PostForm(srv.url+"/signin", f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("bad sign-in: %d", resp.StatusCode)
		}
		bodies = append(bodies, strings.ReplaceAll(string(b), f.Get("email"), "EMAIL"))
	}
	if bodies[0] != bodies[1] {
		t.Error("a wrong password and an unknown account answer differently")
	}
	// A form posted from another site is refused.
	req, _ := http.NewRequest("POST", srv.url+"/signin", strings.NewReader("email=a%40b&password=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d, want 403", resp.StatusCode)
	}
	// So is a state-changing API request a browser sends from another site.
	req, _ = http.NewRequest("POST", srv.url+"/api/v1/recordings/"+final.ID+"/complete", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+srv.token)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("cross-site API request: %d %s, want 403 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestShredTenant: once a tenant's key is deleted, its stored media cannot be played,
// though every sealed object is still there.
func TestShredTenant(t *testing.T) {
	data := t.TempDir()
	onData := func(_ *testing.T, cfg *server.Config) { cfg.Data = data }
	srv := start(t, onData)
	_, final := uploadFixture(t, srv)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	runCLI(t, srv.getenv, "tenant", "shred", "--tenant", "Uni", "--yes")

	srv = start(t, onData)
	viewer := signIn(t, srv, "carol@uni.example", password(t, runCLI(t, srv.getenv, "admin", "create", "--tenant", "Uni", "--email", "carol@uni.example")))
	resp, err := viewer.Get(srv.url + "/recordings/" + final.ID)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`data-main="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no player on the page: %s", page)
	}
	seg := strings.TrimSuffix(html.UnescapeString(string(m[1])), "index.m3u8") + "camera/000001.m4s"
	resp, err = viewer.Get(srv.url + seg)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("segment of a shredded tenant: %d, want 410", resp.StatusCode)
	}
	// The sealed objects remain, unreadable.
	objects := 0
	_ = filepath.Walk(filepath.Join(data, "blobs"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			objects++
		}
		return nil
	})
	if objects == 0 {
		t.Error("no objects left to prove unreadable")
	}
}
