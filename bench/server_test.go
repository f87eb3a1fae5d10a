package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/aulacapture/aula/server/auth"
)

// goBuild builds the command in ../cmd/name into dir and returns the binary's path. With
// AULA_BENCH_BIN set, it builds into that directory instead and the binaries stay there,
// so that a profiler (perf record -p) can read their symbols after the run.
func goBuild(b *testing.B, dir, name string) string {
	b.Helper()
	if keep := os.Getenv("AULA_BENCH_BIN"); keep != "" {
		dir = keep
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/"+name).CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v: %s", name, err, out)
	}
	return bin
}

// aulaServer is an aula-server process serving HTTPS on a loopback port. It runs as a
// process of its own so that its peak RSS and CPU time are its own.
type aulaServer struct {
	url     string // https://127.0.0.1:PORT
	cert    string // the self-signed certificate it made, PEM
	key     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has been waited for
	stopped *usage        // set by stop
}

// aulaCmd runs one aula-server admin command on data to its end and returns its stdout.
func aulaCmd(b *testing.B, bin string, args ...string) string {
	b.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("aula-server %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String()
}

// account is the tenant administrator that newTenant makes.
type account struct {
	email, password string
	token           string // ingest scope
}

// newTenant makes a tenant with an administrator in data and an ingest token for them.
func newTenant(b *testing.B, bin, data string) account {
	b.Helper()
	a := account{email: "bench@example.org"}
	out := aulaCmd(b, bin, "admin", "create", "--data", data, "--tenant", "bench", "--email", a.email)
	for line := range strings.Lines(out) {
		if p, ok := strings.CutPrefix(line, "password:"); ok {
			a.password = strings.TrimSpace(p)
		}
	}
	if a.password == "" {
		b.Fatalf("admin create printed no password: %q", out)
	}
	a.token = strings.TrimSpace(aulaCmd(b, bin, "token", "create", "--data", data, "--email", a.email, "--scope", "ingest"))
	return a
}

// freePort finds a loopback port nobody listens on. aula-server cannot report the port
// it picked for :0, so the port is chosen here and handed over; another process could
// take it in between, which on a test machine does not happen in practice.
func freePort(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startServer starts aula-server serve on data and returns once /healthz answers. The
// process is stopped when the benchmark ends, if stop was not called before.
func startServer(b *testing.B, bin, data string) *aulaServer {
	b.Helper()
	s := &aulaServer{
		url:     "https://127.0.0.1:" + freePort(b),
		cert:    filepath.Join(data, "tls", "cert.pem"),
		key:     filepath.Join(data, "tls", "key.pem"),
		logPath: filepath.Join(filepath.Dir(data), "server.log"),
		exited:  make(chan struct{}),
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		b.Fatal(err)
	}
	s.cmd = exec.Command(bin, "serve", "--data", data, "--listen", strings.TrimPrefix(s.url, "https://"), "--log-format", "text")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		b.Fatalf("start aula-server: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	b.Cleanup(func() { s.stop(b) })
	if err := s.waitHealthy(15 * time.Second); err != nil {
		b.Fatalf("aula-server did not come up: %v\n%s", err, s.logTail())
	}
	return s
}

// waitHealthy polls GET /healthz, trusting the certificate the server makes at start.
func (s *aulaServer) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for ; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-s.exited:
			return errors.New("the process exited")
		default:
		}
		client, err := trustingClient(s.cert)
		if err != nil {
			continue // the certificate is not written yet
		}
		resp, err := client.Get(s.url + "/healthz")
		client.CloseIdleConnections()
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	return fmt.Errorf("no answer from %s/healthz in %s", s.url, timeout)
}

// peakRSS reads the process's peak resident set (VmHWM) while it runs, in bytes.
func (s *aulaServer) peakRSS(b *testing.B) int64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("read aula-server's peak RSS: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// stop ends the server with SIGTERM (a graceful shutdown), kills it if it has not
// exited 30 s later, and reports what the whole process cost. Calling it again returns
// the first answer.
func (s *aulaServer) stop(b *testing.B) usage {
	if s.stopped != nil {
		return *s.stopped
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		b.Errorf("aula-server ignored SIGTERM for 30 s and was killed\n%s", s.logTail())
	}
	u := usage{}
	if ru, ok := s.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		u.maxRSS = ru.Maxrss * 1024
	}
	s.stopped = &u
	return u
}

// logTail is the end of the server's log, for failure messages.
func (s *aulaServer) logTail() string {
	data, _ := os.ReadFile(s.logPath)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// trustingClient is a plain HTTPS client that trusts the PEM certificate in certFile,
// with the transport settings of agent/upload's client (HTTP/1.1, a connection per
// request in flight).
func trustingClient(certFile string) (*http.Client, error) {
	pem, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", certFile)
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 16,
	}}, nil
}

// proto asks url with client and reports the HTTP version the answer came in.
func proto(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return resp.Proto, nil
}

// mediaPlaylist signs in to the web pages as a viewer (through the first sign-in's
// forced steps: a new password, and 2FA for an administrator), opens a recording's
// player page and returns the viewer's client (it holds the session cookie) with the URL
// of the first media playlist that the page's master playlist names.
func mediaPlaylist(ctx context.Context, base, certFile string, a account, recID string) (*http.Client, string, error) {
	client, err := trustingClient(certFile)
	if err != nil {
		return nil, "", err
	}
	if client.Jar, err = cookiejar.New(nil); err != nil {
		return nil, "", err
	}
	if err := firstSignIn(ctx, client, base, a); err != nil {
		return nil, "", err
	}
	page, err := get(ctx, client, base+"/recordings/"+recID, nil)
	if err != nil {
		return nil, "", fmt.Errorf("player page: %w", err)
	}
	_, rest, ok := strings.Cut(page, `data-main="`)
	main, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 {
		return nil, "", errors.New("the player page names no master playlist (data-main)")
	}
	master, err := url.Parse(base + html.UnescapeString(main))
	if err != nil {
		return nil, "", err
	}
	list, err := get(ctx, client, master.String(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("master playlist: %w", err)
	}
	for line := range strings.Lines(list) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			media, err := master.Parse(line)
			if err != nil {
				return nil, "", err
			}
			return client, media.String(), nil
		}
	}
	return nil, "", fmt.Errorf("the master playlist names no media playlist:\n%s", list)
}

// secretRe finds the TOTP secret on the 2FA set-up page.
var secretRe = regexp.MustCompile(`name="secret" value="([A-Z2-7]{32})"`)

// firstSignIn signs in with the one-time password that admin create printed, sets a new
// password when the server asks for one, and sets up 2FA when it asks for that.
func firstSignIn(ctx context.Context, client *http.Client, base string, a account) error {
	// A good sign-in redirects; a bad one answers 401.
	at, _, err := browse(ctx, client, base+"/signin", url.Values{"email": {a.email}, "password": {a.password}})
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if at == "/account/password" {
		pw := "a long passphrase for the ingest benchmark"
		if at, _, err = browse(ctx, client, base+"/account/password", url.Values{"current": {a.password}, "new": {pw}, "confirm": {pw}}); err != nil {
			return fmt.Errorf("forced password change: %w", err)
		}
	}
	if at == "/account/2fa" {
		_, page, err := browse(ctx, client, base+"/account/2fa", nil)
		if err != nil {
			return fmt.Errorf("2FA set-up page: %w", err)
		}
		m := secretRe.FindStringSubmatch(page)
		if m == nil {
			return errors.New("the 2FA set-up page shows no secret")
		}
		code, err := auth.TOTPCode(m[1], time.Now(), 6, otp.AlgorithmSHA1)
		if err != nil {
			return err
		}
		if _, _, err := browse(ctx, client, base+"/account/2fa", url.Values{"secret": {m[1]}, "code": {code}}); err != nil {
			return fmt.Errorf("2FA set-up: %w", err)
		}
	}
	return nil
}

// get GETs url (or POSTs form, when not nil) and returns the body of a 200 answer.
func get(ctx context.Context, client *http.Client, url string, form url.Values) (string, error) {
	_, body, err := browse(ctx, client, url, form)
	return body, err
}

// browse GETs url (or POSTs form, when not nil), following redirects, and returns the
// path it ended at and the body of a 200 answer there.
func browse(ctx context.Context, client *http.Client, url string, form url.Values) (string, string, error) {
	method, body := http.MethodGet, io.Reader(nil)
	if form != nil {
		method, body = http.MethodPost, strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return "", "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", err
	}
	at := resp.Request.URL.Path
	if resp.StatusCode != http.StatusOK {
		return at, string(data), fmt.Errorf("%s %s: HTTP %d: %.200s", method, at, resp.StatusCode, data)
	}
	return at, string(data), nil
}
