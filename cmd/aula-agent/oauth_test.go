package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/servertest"
)

// noToken keeps an AULA_TOKEN of the test's environment away from the agent, so it must
// use its enrolled or signed-in credential.
var noToken = []string{"AULA_TOKEN="}

// TestEnrollAndRecord: `aula-agent enroll` trades the administrator's one-time code for
// a credential sealed on disk (no secret readable in the data folder), the code works
// once, and `record --server` without a token records and uploads with the credential's
// client-credentials tokens.
func TestEnrollAndRecord(t *testing.T) {
	srv := servertest.Start(t, "")
	code := strings.TrimSpace(srv.CLI("enrollment", "create", "--tenant", "Uni", "--room", "Hall B"))
	data := t.TempDir()
	status, out := runAgentEnv(t, noToken, "enroll", "--server", srv.URL, "--server-ca", srv.Cert, "--data", data, code)
	if status != 0 || !strings.Contains(out, `Enrolled for room "Hall B"`) {
		t.Fatalf("enroll: %d %s", status, out)
	}
	sealed, err := os.ReadFile(filepath.Join(data, "credential.age"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "aula_") || strings.Contains(string(sealed), "agent-") {
		t.Error("the credential file holds the secret or client ID in the clear")
	}
	for _, name := range []string{"credential.age", "credential.key"} {
		if fi, err := os.Stat(filepath.Join(data, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", name, fi.Mode(), err)
		}
	}
	if status, out := runAgentEnv(t, noToken, "enroll", "--server", srv.URL, "--server-ca", srv.Cert, "--data", t.TempDir(), code); status == 0 || !strings.Contains(out, "used already") {
		t.Errorf("second enroll with the code: %d %s", status, out)
	}
	if status, out := runAgentEnv(t, noToken, "enroll", "--server", strings.Replace(srv.URL, "https", "http", 1), "--data", t.TempDir(), code); status == 0 || !strings.Contains(out, "only https") {
		t.Errorf("enroll over http: %d %s", status, out)
	}

	args := append([]string{"record", "--synthetic", "--screen=synthetic,size=640x360", "--duration", "4s"}, serverArgs(srv, data)...)
	if status, out := runAgentEnv(t, noToken, args...); status != 0 {
		t.Fatalf("record with the enrolled credential: %d %s", status, out)
	}
	if n := checkSpoolOnServer(t, srv, data); n == 0 {
		t.Error("nothing reached the server")
	}
	// The agent reported its state as it went; its last report, as it exited, is idle.
	admin := strings.TrimSpace(srv.CLI("token", "create", "--email", srv.Admin, "--scope", "admin"))
	var states struct {
		States []struct {
			Room, State string
			QueueBytes  int64 `json:"queue_bytes"`
			FreeBytes   int64 `json:"free_bytes"`
		} `json:"states"`
	}
	getJSON(t, srv, admin, "/api/v1/admin/rooms/states", &states)
	if len(states.States) != 1 || states.States[0].Room != "Hall B" || states.States[0].State != "idle" || states.States[0].FreeBytes <= 0 {
		t.Errorf("agent states on the server: %+v", states.States)
	}

	if status, out := runAgentEnv(t, noToken, append([]string{"record", "--synthetic", "--duration", "2s"}, serverArgs(srv, t.TempDir())...)...); status != 2 || !strings.Contains(out, "aula-agent enroll") {
		t.Errorf("record without any credential: %d %s", status, out)
	}
}

// lines runs aula-agent and sends each line it prints to the returned channel.
func lines(t *testing.T, env []string, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(agentBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		pw.Close()
	})
	return cmd, ch
}

// waitLine returns the first line matching re, with everything read before it.
func waitLine(t *testing.T, ch <-chan string, re *regexp.Regexp) []string {
	t.Helper()
	var seen []string
	timeout := time.After(time.Minute)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("aula-agent ended without %s:\n%s", re, strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no %s within a minute:\n%s", re, strings.Join(seen, "\n"))
		}
	}
}

// signedIn makes a creator and signs them in over HTTPS through the forced password
// change, returning a client that holds the session cookie and follows every redirect
// (the recorder's loopback one too, as a browser does).
func signedIn(t *testing.T, srv *servertest.Server) *http.Client {
	t.Helper()
	out := srv.CLI("user", "create", "--tenant", "Uni", "--email", "teacher@uni.example", "--role", "creator")
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("user create: %s", out)
	}
	pem, err := os.ReadFile(srv.Cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	post := func(path string, form url.Values) *http.Response {
		resp, err := hc.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	post("/signin", url.Values{"email": {"teacher@uni.example"}, "password": {m[1]}})
	pw := "a long passphrase for the teacher"
	if resp := post("/account/password", url.Values{"current": {m[1]}, "new": {pw}, "confirm": {pw}}); resp.Request.URL.Path != "/recordings" {
		t.Fatalf("sign-in ended at %s", resp.Request.URL.Path)
	}
	return hc
}

// TestLoginAndRecord: `aula-agent login` signs the user in with the authorization code
// and PKCE on its loopback redirect (the browser's part done with HTTP requests carrying
// the session), then `record --server` uploads with the rotating refresh token; `login
// --device` signs in with a user code typed on the device page; `logout` revokes and
// forgets the sign-in.
func TestLoginAndRecord(t *testing.T) {
	srv := servertest.Start(t, "")
	browser := signedIn(t, srv)
	data := t.TempDir()

	cmd, ch := lines(t, noToken, "login", "--server", srv.URL, "--server-ca", srv.Cert, "--data", data)
	u := waitLine(t, ch, regexp.MustCompile(`^(https://\S+/oauth/authorize\?\S+)$`))[1]
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindSubmatch(page)
	if id == nil {
		t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	resp, err = browser.PostForm(srv.URL+"/oauth/consent", url.Values{"id": {string(id[1])}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Host == srv.URL[len("https://"):] || !strings.Contains(string(page), "Signed in") {
		t.Fatalf("after consent the browser is at %s: %s", resp.Request.URL, page)
	}
	waitLine(t, ch, regexp.MustCompile(`^Signed in\.`))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	before, _ := os.ReadFile(filepath.Join(data, "credential.age"))

	args := append([]string{"record", "--synthetic", "--screen=synthetic,size=640x360", "--duration", "4s"}, serverArgs(srv, data)...)
	if status, out := runAgentEnv(t, noToken, args...); status != 0 {
		t.Fatalf("record with the signed-in credential: %d %s", status, out)
	}
	if n := checkSpoolOnServer(t, srv, data); n == 0 {
		t.Error("nothing reached the server")
	}
	// A signed-in person's recorder reports no agent state: that is for enrolled rooms.
	admin := strings.TrimSpace(srv.CLI("token", "create", "--email", srv.Admin, "--scope", "admin"))
	var states struct {
		States []struct{ Room string } `json:"states"`
	}
	getJSON(t, srv, admin, "/api/v1/admin/rooms/states", &states)
	if len(states.States) != 0 {
		t.Errorf("agent states after a signed-in recording: %+v", states.States)
	}
	if after, _ := os.ReadFile(filepath.Join(data, "credential.age")); string(after) == string(before) {
		t.Error("the rotated refresh token was not saved")
	}

	// The device grant, into another data folder.
	data2 := t.TempDir()
	cmd, ch = lines(t, noToken, "login", "--device", "--server", srv.URL, "--server-ca", srv.Cert, "--data", data2)
	code := waitLine(t, ch, regexp.MustCompile(`enter the code ([A-Z]{4}-[A-Z]{4})`))[1]
	resp, err = browser.PostForm(srv.URL+"/oauth/device", url.Values{"user_code": {code}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("device approval: %d", resp.StatusCode)
	}
	waitLine(t, ch, regexp.MustCompile(`^Signed in\.`))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("login --device: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data2, "credential.age")); err != nil {
		t.Error(err)
	}

	// logout revokes the sign-in at the server and forgets it.
	if status, out := runAgentEnv(t, noToken, "logout", "--server-ca", srv.Cert, "--data", data); status != 0 || !strings.Contains(out, "Signed out") {
		t.Fatalf("logout: %d %s", status, out)
	}
	if _, err := os.Stat(filepath.Join(data, "credential.age")); !os.IsNotExist(err) {
		t.Errorf("credential after logout: %v", err)
	}
	if status, out := runAgentEnv(t, noToken, append([]string{"upload", "--wait"}, serverArgs(srv, data)...)...); status != 2 || !strings.Contains(out, "needs a credential") {
		t.Errorf("upload after logout: %d %s", status, out)
	}
}

// getJSON GETs path from srv with a bearer token and decodes the JSON answer.
func getJSON(t *testing.T, srv *servertest.Server, token, path string, out any) {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(srv.Cert)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("server certificate: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
