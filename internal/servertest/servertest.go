// Package servertest runs a real aula-server for the agent's tests: in this process, or
// as a child process that a test may kill and restart on the same data and port.
package servertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/cli"
)

// Server is a running aula-server with a tenant, an administrator and an ingest token.
type Server struct {
	URL, Data, Token, Cert, Admin string

	t      testing.TB
	addr   string
	getenv func(string) string

	mu     sync.Mutex
	stop   func() // stops the server now running
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *lockedBuffer
}

var admins atomic.Int64

// Start runs aula-server in this process on data (a new temporary directory when
// empty) and stops it when the test ends.
func Start(t testing.TB, data string) *Server {
	t.Helper()
	s := newServer(t, data)
	s.startInProcess()
	s.setup()
	t.Cleanup(s.Stop)
	return s
}

// StartProcess runs aula-server as a child process (built once per test binary) on data
// and a fixed port, so Kill and Restart keep its URL; it is killed when the test ends.
func StartProcess(t testing.TB, data string) *Server {
	t.Helper()
	s := newServer(t, data)
	s.startProcess()
	s.setup()
	t.Cleanup(s.Stop)
	return s
}

func newServer(t testing.TB, data string) *Server {
	if data == "" {
		data = t.TempDir()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := map[string]string{"AULA_DATA": data}
	return &Server{t: t, Data: data, addr: addr, URL: "https://" + addr, Cert: filepath.Join(data, "tls", "cert.pem"),
		getenv: func(k string) string { return env[k] }, logs: &lockedBuffer{}}
}

func (s *Server) setup() {
	s.Admin = fmt.Sprintf("admin%d@uni.example", admins.Add(1))
	s.CLI("admin", "create", "--tenant", "Uni", "--email", s.Admin)
	s.Token = strings.TrimSpace(s.CLI("token", "create", "--email", s.Admin, "--scope", "ingest"))
}

// CLI runs an aula-server command on the server's data in this process.
func (s *Server) CLI(args ...string) string {
	s.t.Helper()
	var out, errb bytes.Buffer
	if err := cli.Run(context.Background(), cli.Env{Args: args, Stdout: &out, Stderr: &errb, Getenv: s.getenv}); err != nil {
		s.t.Fatalf("aula-server %v: %v: %s", args, err, errb.String())
	}
	return out.String()
}

func (s *Server) startInProcess() {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, cli.Env{Args: []string{"serve", "--listen", s.addr, "--log-format", "text"},
			Stdout: io.Discard, Stderr: s.logs, Getenv: s.getenv, Ready: func(a string) { ready <- a }})
	}()
	select {
	case <-ready:
	case err := <-done:
		s.t.Fatalf("serve: %v\n%s", err, s.logs.String())
	case <-time.After(60 * time.Second):
		cancel()
		s.t.Fatal("server did not start")
	}
	s.mu.Lock()
	s.stop = func() {
		cancel()
		if err := <-done; err != nil {
			s.t.Errorf("serve ended with %v\n%s", err, s.logs.String())
		}
	}
	s.mu.Unlock()
}

var build struct {
	once sync.Once
	bin  string
	err  error
}

// binary builds cmd/aula-server once.
func binary(t testing.TB) string {
	build.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "aula-servertest")
		if err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(dir, "aula-server")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/aula-server")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("build aula-server: %v: %s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

func (s *Server) startProcess() {
	cmd := exec.Command(binary(s.t), "serve", "--listen", s.addr, "--log-format", "text")
	cmd.Env = append(os.Environ(), "AULA_DATA="+s.Data)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s.healthy() {
			break
		}
		select {
		case <-exited:
			s.t.Fatalf("aula-server exited: %s", s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			s.t.Fatalf("aula-server did not start: %s", s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	s.mu.Unlock()
}

// healthy reports whether /healthz answers over TLS with the server's certificate.
func (s *Server) healthy() bool {
	pool, err := s.roots()
	if err != nil {
		return false
	}
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(s.URL + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func (s *Server) roots() (*x509.CertPool, error) {
	pem, err := os.ReadFile(s.Cert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", s.Cert)
	}
	return pool, nil
}

// Kill kills a child-process server at once (SIGKILL), as a power cut would. Kill and
// Restart must be called from the test's goroutine.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.stop = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		s.t.Error("Kill: no child-process server running")
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts a child-process server again on the same data and port.
func (s *Server) Restart() { s.startProcess() }

// Stop stops the server gracefully; it is safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	stop := s.stop
	s.stop, s.cmd = nil, nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Logs returns what the server logged.
func (s *Server) Logs() string { return s.logs.String() }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
