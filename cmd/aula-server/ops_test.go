package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/mediatest"
	"github.com/aulacapture/aula/internal/seal"
	"github.com/aulacapture/aula/server"
)

func httpsClient(t *testing.T, srv running) *http.Client {
	t.Helper()
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.roots(t)}}}
}

// TestOperations: health, readiness and metrics answer; every answer carries HSTS; the
// ingest metrics count what was uploaded.
func TestOperations(t *testing.T) {
	srv := start(t, func(*testing.T, *server.Config) {})
	hc := httpsClient(t, srv)
	uploadFixture(t, srv)
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/signin", "/nowhere"} {
		resp, err := hc.Get(srv.url + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("%s: no HSTS header", p)
		}
		want := http.StatusOK
		if p == "/nowhere" {
			want = http.StatusNotFound
		}
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", p, resp.StatusCode, want)
		}
		if p == "/metrics" {
			m := regexp.MustCompile(`(?m)^aula_ingest_bytes_total ([0-9.e+]+)$`).FindSubmatch(body)
			if m == nil {
				t.Fatalf("metrics lack aula_ingest_bytes_total:\n%s", body)
			}
			if v, _ := strconv.ParseFloat(string(m[1]), 64); v < 100_000 {
				t.Errorf("aula_ingest_bytes_total = %s after uploading a recording", m[1])
			}
			for _, name := range []string{"aula_ingest_segment_seconds_count", "aula_store_errors_total", "aula_http_requests_total"} {
				if !strings.Contains(string(body), name) {
					t.Errorf("metrics lack %s", name)
				}
			}
		}
	}
}

// TestShutdownFinishesUploads: a server told to stop while a segment is arriving
// finishes that upload (201) before it exits.
func TestShutdownFinishesUploads(t *testing.T) {
	dir := recording(t)
	srv := start(t, func(*testing.T, *server.Config) {})
	c, err := upload.NewClient(srv.url, srv.token, srv.cert)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := mediatest.ReadManifest(t, dir)
	// Announce the recording and its camera init, then send segment 1 slowly.
	announce := *m
	announce.State = manifest.StateUploading
	announce.Tracks = nil
	for _, tr := range m.Tracks {
		tr.Segments, tr.InitDigest = []manifest.Segment{}, ""
		announce.Tracks = append(announce.Tracks, tr)
	}
	if err := c.PutRecording(ctx, &announce); err != nil {
		t.Fatal(err)
	}
	recipient, err := c.Recipient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sealFile := func(name string) []byte {
		plain, err := os.ReadFile(filepath.Join(dir, "camera", name))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := seal.Seal(&b, plain, recipient); err != nil {
			t.Fatal(err)
		}
		return []byte(b.String())
	}
	if err := c.PutInit(ctx, m.ID, "camera", sealFile("init.mp4")); err != nil {
		t.Fatal(err)
	}
	seg := sealFile("000001.m4s")
	u, _ := url.Parse(srv.url)
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: srv.roots(t), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /api/v1/recordings/%s/tracks/camera/segments/1 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Digest: %s\r\nContent-Length: %d\r\n\r\n",
		m.ID, u.Host, srv.token, manifest.Digest(seg), len(seg))
	half := len(seg) / 2
	if _, err := conn.Write(seg[:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	stopped := make(chan error, 1)
	go func() { stopped <- srv.stop() }()
	time.Sleep(300 * time.Millisecond) // the server is shutting down now
	select {
	case err := <-stopped:
		t.Fatalf("server stopped (%v) with an upload in flight", err)
	default:
	}
	if _, err := conn.Write(seg[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the upload in flight: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("upload in flight got %d: %s", resp.StatusCode, body)
	}
	if err := <-stopped; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
