package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/ingest"
)

// raw sends one request over its own TLS connection exactly as given: the path is not
// cleaned and Content-Length may lie, as a broken or hostile client's would.
func raw(t *testing.T, srv running, method, path string, hdr map[string]string, body []byte, declared int) (int, http.Header, []byte) {
	t.Helper()
	u, _ := url.Parse(srv.url)
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: srv.roots(t), ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, u.Host)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if declared >= 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", declared)
	}
	b.WriteString("\r\n")
	b.Write(body)
	// A server may answer and close before it has read the whole body (a path or a
	// size it refuses at once): the write then fails, and the answer is still there.
	_, _ = conn.Write(b.Bytes())
	if declared > len(body) {
		// A client that stops sending: half-close so the server sees the end.
		_ = conn.CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

// snapshot is everything stored that a bad request must leave alone.
func snapshot(t *testing.T, c *upload.Client, srv running, id string) string {
	t.Helper()
	m, err := c.Manifest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(m)
	var files []string
	_ = filepath.Walk(filepath.Join(srv.data, "blobs"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, fmt.Sprintf("%s %d", strings.TrimPrefix(p, srv.data), info.Size()))
		}
		return nil
	})
	sort.Strings(files)
	return string(j) + "\n" + strings.Join(files, "\n")
}

// TestBadInput sends each kind of bad request and checks the 4xx problem+json answer,
// and that nothing stored changed.
func TestBadInput(t *testing.T) {
	for name, setup := range backends(t) {
		t.Run(name, func(t *testing.T) {
			badInput(t, func(t *testing.T, cfg *server.Config) {
				setup(t, cfg)
				cfg.MaxSegmentBytes = 2 << 20
			})
		})
	}
}

func badInput(t *testing.T, setup func(*testing.T, *server.Config)) {
	dir := recording(t)
	srv := start(t, setup)
	c, final := uploadFixture(t, srv)
	ctx := context.Background()
	id := final.ID
	recipient, err := c.Recipient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sealFile := func(track, name string) []byte {
		plain, err := os.ReadFile(filepath.Join(dir, track, name))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := seal.Seal(&b, plain, recipient); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	sealBytes := func(plain []byte) []byte {
		var b bytes.Buffer
		if err := seal.Seal(&b, plain, recipient); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	next := len(final.Tracks[0].Segments) + 1
	camPath := func(seq string) string { return "/api/v1/recordings/" + id + "/tracks/camera/segments/" + seq }
	camSeg := sealFile("camera", "000001.m4s")
	audioSeg := sealFile("audio", "000001.m4s")
	garbage := make([]byte, 4096)
	_, _ = rand.Read(garbage)
	sealedGarbage := sealBytes(garbage)
	big := make([]byte, 3<<20)
	otherTenant := otherTenantToken(t, srv)
	expired := expiredToken(t, srv)
	auth := map[string]string{"Authorization": "Bearer " + srv.token}
	with := func(body []byte, extra ...string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + srv.token, "Content-Digest": manifest.Digest(body)}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	recJSON, _ := json.Marshal(final)
	unknownField := bytes.Replace(recJSON, []byte(`"title"`), []byte(`"colour":"red","title"`), 1)
	stranger, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var toStranger bytes.Buffer
	if err := seal.Seal(&toStranger, recJSON, stranger.Recipient()); err != nil {
		t.Fatal(err)
	}
	sealedHdr := with(nil, "Content-Type", ingest.SealedManifestType)

	before := snapshot(t, c, srv, id)
	cases := []struct {
		name     string
		method   string
		path     string
		hdr      map[string]string
		body     []byte
		declared int // -1: no Content-Length
		want     int
	}{
		{"wrong digest", "PUT", camPath(strconv.Itoa(next)), map[string]string{"Authorization": auth["Authorization"], "Content-Digest": manifest.Digest([]byte("other"))}, camSeg, len(camSeg), 400},
		{"no digest", "PUT", camPath(strconv.Itoa(next)), auth, camSeg, len(camSeg), 400},
		{"truncated body", "PUT", camPath(strconv.Itoa(next)), with(camSeg), camSeg[:len(camSeg)/2], len(camSeg), 400},
		{"not MP4", "PUT", camPath(strconv.Itoa(next)), with(sealedGarbage), sealedGarbage, -2, 422},
		{"not sealed", "PUT", camPath(strconv.Itoa(next)), with(garbage), garbage, len(garbage), 422},
		{"MP4 of another codec", "PUT", camPath(strconv.Itoa(next)), with(audioSeg), audioSeg, len(audioSeg), 422},
		{"changed segment", "PUT", camPath("1"), with(camSeg), camSeg, len(camSeg), 409},
		{"seq 0", "PUT", camPath("0"), with(camSeg), camSeg, len(camSeg), 400},
		{"seq too big", "PUT", camPath("10000000"), with(camSeg), camSeg, len(camSeg), 400},
		{"seq with zero", "PUT", camPath("01"), with(camSeg), camSeg, len(camSeg), 400},
		{"seq word", "PUT", camPath("one"), with(camSeg), camSeg, len(camSeg), 400},
		{"id dotdot", "PUT", "/api/v1/recordings/../tracks/camera/segments/1", with(camSeg), camSeg, len(camSeg), 400},
		{"id encoded dots", "PUT", "/api/v1/recordings/%2e%2e/tracks/camera/segments/1", with(camSeg), camSeg, len(camSeg), 400},
		{"id slash", "PUT", "/api/v1/recordings/a%2Fb/tracks/camera/segments/1", with(camSeg), camSeg, len(camSeg), 400},
		{"id NUL", "PUT", "/api/v1/recordings/%00/tracks/camera/segments/1", with(camSeg), camSeg, len(camSeg), 400},
		{"id upper case", "PUT", "/api/v1/recordings/" + strings.ToUpper(id) + "/tracks/camera/segments/1", with(camSeg), camSeg, len(camSeg), 400},
		{"track dotdot", "PUT", "/api/v1/recordings/" + id + "/tracks/%2e%2e/segments/1", with(camSeg), camSeg, len(camSeg), 400},
		{"unknown track", "PUT", "/api/v1/recordings/" + id + "/tracks/slides/segments/1", with(camSeg), camSeg, len(camSeg), 404},
		{"over the size limit", "PUT", camPath(strconv.Itoa(next)), with(big), big, len(big), 413},
		{"over the limit, chunked", "PUT", camPath(strconv.Itoa(next)), with(big, "Transfer-Encoding", "chunked"), chunked(big), -1, 413},
		{"unknown JSON field", "PUT", "/api/v1/recordings/" + id, with(nil, "Content-Type", "application/json"), unknownField, len(unknownField), 400},
		{"sealed manifest, other recipient", "PUT", "/api/v1/recordings/" + id, sealedHdr, toStranger.Bytes(), -2, 422},
		{"sealed manifest, not age", "PUT", "/api/v1/recordings/" + id, sealedHdr, recJSON, -2, 422},
		{"sealed manifest, sealed junk", "PUT", "/api/v1/recordings/" + id, sealedHdr, sealedGarbage, -2, 400},
		{"JSON of wrong type", "PUT", "/api/v1/recordings/" + id, auth, []byte(`{"id": 7}`), 9, 400},
		{"missing token", "PUT", camPath(strconv.Itoa(next)), map[string]string{"Content-Digest": manifest.Digest(camSeg)}, camSeg, len(camSeg), 401},
		{"expired token", "PUT", camPath(strconv.Itoa(next)), map[string]string{"Authorization": "Bearer " + expired, "Content-Digest": manifest.Digest(camSeg)}, camSeg, len(camSeg), 401},
		{"other tenant's token", "PUT", camPath(strconv.Itoa(next)), map[string]string{"Authorization": "Bearer " + otherTenant, "Content-Digest": manifest.Digest(camSeg)}, camSeg, len(camSeg), 404},
		{"other tenant reads manifest", "GET", "/api/v1/recordings/" + id + "/manifest", map[string]string{"Authorization": "Bearer " + otherTenant}, nil, -1, 404},
		{"complete with a missing segment", "POST", "/api/v1/recordings/" + id + "/complete", auth, withExtraSegment(t, final), -2, 409},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			declared := tc.declared
			if declared == -2 {
				declared = len(tc.body)
			}
			status, hdr, body := raw(t, srv, tc.method, tc.path, tc.hdr, tc.body, declared)
			if status != tc.want {
				t.Errorf("status %d, want %d: %s", status, tc.want, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json: %s", ct, body)
			}
			var p struct {
				Type, Title, Detail string
				Status              int
			}
			if err := json.Unmarshal(body, &p); err != nil || p.Status != status || p.Title == "" {
				t.Errorf("body is not a problem object: %s", body)
			}
		})
	}
	if after := snapshot(t, c, srv, id); after != before {
		t.Errorf("bad requests changed what is stored:\nbefore %s\nafter  %s", before, after)
	}
}

func chunked(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		n := min(len(b), 64<<10)
		fmt.Fprintf(&out, "%x\r\n", n)
		out.Write(b[:n])
		out.WriteString("\r\n")
		b = b[n:]
	}
	out.WriteString("0\r\n\r\n")
	return out.Bytes()
}

func withExtraSegment(t *testing.T, m *manifest.Manifest) []byte {
	t.Helper()
	c := *m
	c.Tracks = append([]manifest.Track(nil), m.Tracks...)
	tr := c.Tracks[0]
	last := tr.Segments[len(tr.Segments)-1]
	tr.Segments = append(append([]manifest.Segment(nil), tr.Segments...), manifest.Segment{
		Seq: last.Seq + 1, Start: last.Start + last.Duration, Duration: 2, Size: 10, Digest: manifest.Digest([]byte("never sent")),
	})
	c.Tracks[0] = tr
	c.State = manifest.StateCaptureFinished
	b, _ := json.Marshal(c)
	return b
}

func otherTenantToken(t *testing.T, srv running) string {
	t.Helper()
	env := srv.getenv
	runCLI(t, env, "admin", "create", "--tenant", "Other", "--email", "eve@other.example")
	return strings.TrimSpace(runCLI(t, env, "token", "create", "--email", "eve@other.example", "--scope", "ingest"))
}

func expiredToken(t *testing.T, srv running) string {
	t.Helper()
	env := srv.getenv
	tok := strings.TrimSpace(runCLI(t, env, "token", "create", "--email", srv.admin, "--scope", "ingest", "--ttl", "1s"))
	time.Sleep(1100 * time.Millisecond)
	return tok
}
