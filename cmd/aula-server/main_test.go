package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/mediatest"
	"github.com/aulacapture/aula/internal/pgtest"
	"github.com/aulacapture/aula/internal/s3test"
	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/cli"
)

// fixture is one recording made by the real aula-agent, shared by the tests.
var fixture struct {
	once sync.Once
	dir  string
	err  error
}

// recording records 6 s of the synthetic screen, camera and microphone with aula-agent,
// once per test binary.
func recording(t *testing.T) string {
	t.Helper()
	fixture.once.Do(func() {
		tmp, err := os.MkdirTemp("", "aula-server-test")
		if err != nil {
			fixture.err = err
			return
		}
		bin := filepath.Join(tmp, "aula-agent")
		if out, err := exec.Command("go", "build", "-o", bin, "../aula-agent").CombinedOutput(); err != nil {
			fixture.err = fmt.Errorf("build aula-agent: %v: %s", err, out)
			return
		}
		fixture.dir = filepath.Join(tmp, "rec")
		if out, err := exec.Command(bin, "record", "--screen=synthetic,size=960x540", "--synthetic", "--duration", "6s", "--title", "Fixture lecture", "--out", fixture.dir).CombinedOutput(); err != nil {
			fixture.err = fmt.Errorf("record: %v: %s", err, out)
		}
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(filepath.Dir(fixture.dir))
	}
	os.Exit(code)
}

// running is a server started for a test, with an admin's ingest token.
type running struct {
	url, data, token, cert string
	// stop shuts the server down gracefully and returns serve's error.
	stop func() error
	// getenv is the environment the server runs in, for CLI commands on its stores.
	getenv func(string) string
	// admin is the e-mail of the administrator whose token is token.
	admin string
}

// starts numbers the servers tests start.
var starts atomic.Int64

// backends are the store combinations every server test runs on.
func backends(t *testing.T) map[string]func(t *testing.T, cfg *server.Config) {
	return map[string]func(t *testing.T, cfg *server.Config){
		"sqlite+fs": func(*testing.T, *server.Config) {},
		"postgres+s3": func(t *testing.T, cfg *server.Config) {
			cfg.Database = pgtest.Start(t)
			s3 := s3test.Start(t)
			cfg.Blobs = fmt.Sprintf("s3://%s?endpoint=%s&region=us-east-1&create_bucket=true", s3.Bucket, s3.Endpoint)
			cfg.S3AccessKey, cfg.S3SecretKey = s3.AccessKey, s3.SecretKey
		},
	}
}

// start runs aula-server in this process on a free port with cfg's stores, makes a
// tenant, an admin and an ingest token through the CLI, and stops it at the end.
func start(t *testing.T, setup func(t *testing.T, cfg *server.Config)) running {
	t.Helper()
	data := t.TempDir()
	cfg := server.Default()
	cfg.Data = data
	cfg.Listen = "127.0.0.1:0"
	setup(t, &cfg)
	data = cfg.Data
	env := []string{"AULA_DATA=" + data}
	if cfg.Database != "" {
		env = append(env, "AULA_DATABASE="+cfg.Database)
	}
	if cfg.MaxSegmentBytes != server.Default().MaxSegmentBytes {
		env = append(env, fmt.Sprintf("AULA_MAX_SEGMENT_BYTES=%d", cfg.MaxSegmentBytes))
	}
	if cfg.Blobs != "" {
		env = append(env, "AULA_BLOBS="+cfg.Blobs, "AULA_S3_ACCESS_KEY="+cfg.S3AccessKey, "AULA_S3_SECRET_KEY="+cfg.S3SecretKey)
	}
	getenv := func(k string) string {
		for _, kv := range env {
			if name, v, _ := strings.Cut(kv, "="); name == k {
				return v
			}
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- cli.Run(ctx, cli.Env{Args: []string{"serve", "--listen", cfg.Listen, "--log-format", "text"},
			Stdout: io.Discard, Stderr: &syncWriter{w: &logs}, Getenv: getenv, Ready: func(a string) { ready <- a }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve ended with %v", err)
		}
	})
	// A new administrator each start, so a test may start a server twice on one data dir.
	admin := fmt.Sprintf("admin%d@uni.example", starts.Add(1))
	runCLI(t, getenv, "admin", "create", "--tenant", "Uni", "--email", admin)
	token := strings.TrimSpace(runCLI(t, getenv, "token", "create", "--email", admin, "--scope", "ingest"))
	return running{url: "https://" + addr, data: data, token: token, cert: filepath.Join(data, "tls", "cert.pem"), stop: stop, getenv: getenv, admin: admin}
}

// uploadFixture uploads the shared recording to srv and returns the client and the
// final manifest the upload sent.
func uploadFixture(t *testing.T, srv running) (*upload.Client, *manifest.Manifest) {
	t.Helper()
	c, err := upload.NewClient(srv.url, srv.token, srv.cert)
	if err != nil {
		t.Fatal(err)
	}
	final, err := upload.Dir(context.Background(), c, recording(t), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, final
}

// roots trusts srv's self-signed certificate.
func (srv running) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(srv.cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", srv.cert)
	}
	return pool
}

// runCLI runs an aula-server command in this process and returns what it printed.
func runCLI(t *testing.T, getenv func(string) string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := cli.Run(context.Background(), cli.Env{Args: args, Stdout: &out, Stderr: &errb, Getenv: getenv}); err != nil {
		t.Fatalf("aula-server %v: %v: %s", args, err, errb.String())
	}
	return out.String()
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestUploadRecording uploads a real recording segment by segment over HTTPS, on both
// store combinations, and checks the server holds exactly it, sealed.
func TestUploadRecording(t *testing.T) {
	dir := recording(t)
	for name, setup := range backends(t) {
		t.Run(name, func(t *testing.T) {
			srv := start(t, setup)
			c, final := uploadFixture(t, srv)
			ctx := context.Background()
			held, err := c.Manifest(ctx, final.ID)
			if err != nil {
				t.Fatal(err)
			}
			local := mediatest.ReadManifest(t, dir)
			if held.Title != "Fixture lecture" || len(held.Tracks) != len(local.Tracks) || held.State != manifest.StateUploadFinished {
				t.Fatalf("server holds %+v", held)
			}
			byID := func(m *manifest.Manifest, id string) manifest.Track {
				for _, t := range m.Tracks {
					if t.ID == id {
						return t
					}
				}
				t.Fatalf("no track %q", id)
				return manifest.Track{}
			}
			for _, tr := range held.Tracks {
				sent, rec := byID(final, tr.ID), byID(local, tr.ID)
				if len(tr.Segments) != len(rec.Segments) || tr.InitDigest != sent.InitDigest {
					t.Errorf("track %s: server holds %d segments, recorded %d", tr.ID, len(tr.Segments), len(rec.Segments))
					continue
				}
				for j, s := range tr.Segments {
					if s.Digest != sent.Segments[j].Digest || s.Size != sent.Segments[j].Size || math.Abs(s.Duration-rec.Segments[j].Duration) > 0.001 {
						t.Errorf("track %s segment %d: server holds %+v, sent %+v", tr.ID, s.Seq, s, sent.Segments[j])
					}
				}
			}
			// Uploading again changes nothing and succeeds (resume of a finished upload).
			if _, err := upload.Dir(ctx, c, dir, 4, nil); err != nil {
				t.Errorf("second upload: %v", err)
			}
			if name == "sqlite+fs" {
				assertNoPlaintext(t, srv.data, dir)
			}
		})
	}
}

// assertNoPlaintext searches every file under data (blobs, database, WAL) for bytes of
// the recording in the clear: its boxes and its title.
func assertNoPlaintext(t *testing.T, data, recDir string) {
	t.Helper()
	seg, err := os.ReadFile(filepath.Join(recDir, "camera", "000002.m4s"))
	if err != nil {
		t.Fatal(err)
	}
	init, err := os.ReadFile(filepath.Join(recDir, "camera", "init.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	// Box headers with their sizes (8 bytes each, too long to turn up by chance in
	// ciphertext) and a run from the middle of the picture data.
	needles := [][]byte{init[:8], seg[:8], seg[len(seg)/2 : len(seg)/2+64]}
	found := 0
	err = filepath.Walk(data, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds plaintext %q", p, n[:min(len(n), 8)])
			}
		}
		found++
		return nil
	})
	if err != nil || found == 0 {
		t.Fatalf("walk %s: %v (%d files)", data, err, found)
	}
}
