package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/mediatest"
	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/cli"

	_ "modernc.org/sqlite"
)

type cliResult struct {
	stdout, stderr string
	err            error
}

// runCLIResult runs an aula-server command that may fail.
func runCLIResult(t *testing.T, getenv func(string) string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	err := cli.Run(context.Background(), cli.Env{Args: args, Stdout: &out, Stderr: &errb, Getenv: getenv})
	return cliResult{out.String(), errb.String(), err}
}

// TestRolesEndToEnd drives roles over HTTPS with the CLI an administrator uses: a viewer
// may watch but not download; granted publisher on the folder it downloads a track that
// ffprobe reads as the recorded video; views, downloads, grants and deletions land in the
// audit log; deleting a recording removes its sealed objects.
func TestRolesEndToEnd(t *testing.T) {
	srv := start(t, func(*testing.T, *server.Config) {})
	_, final := uploadFixture(t, srv)
	hc := httpsClient(t, srv)
	get := func(token, path string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	runCLI(t, srv.getenv, "folder", "create", "--tenant", "Uni", "--path", "/Physics/Year 1")
	student := firstSignIn(t, srv, "student@uni.example", password(t, runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "student@uni.example", "--folder", "/Physics")))
	view := strings.TrimSpace(runCLI(t, srv.getenv, "token", "create", "--email", "student@uni.example", "--scope", "view"))
	// The upload went to the root folder: the student, a viewer of /Physics, sees
	// nothing of it.
	if c, _ := get(view, "/api/v1/recordings/"+final.ID); c != 404 {
		t.Errorf("viewer of /Physics reads a recording in /: %d, want 404", c)
	}
	if _, status, _ := student.b.do("GET", "/recordings/"+final.ID, nil); status != 404 {
		t.Errorf("player page outside the viewer's folders: %d, want 404", status)
	}
	// Moved into /Physics/Year 1 by the administrator, it is the student's to watch.
	folders := runCLI(t, srv.getenv, "folder", "list", "--tenant", "Uni")
	year1 := ""
	for _, line := range strings.Split(folders, "\n") {
		if p, id, ok := strings.Cut(line, "\t"); ok && p == "/Physics/Year 1" {
			year1 = id
		}
	}
	adminToken := strings.TrimSpace(runCLI(t, srv.getenv, "token", "create", "--email", srv.admin, "--scope", "admin"))
	req, _ := http.NewRequest("PATCH", srv.url+"/api/v1/recordings/"+final.ID, strings.NewReader(`{"folder":"`+year1+`"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("move: %v %v", resp, err)
	}
	if _, status, body := student.b.do("GET", "/recordings/"+final.ID, nil); status != 200 || !strings.Contains(body, "data-main=") {
		t.Errorf("player page for the viewer: %d", status)
	}
	var track string
	for _, tr := range final.Tracks {
		if tr.Kind == "camera" || tr.Kind == "screen" {
			track = tr.ID
			break
		}
	}
	if c, _ := get(view, "/api/v1/recordings/"+final.ID+"/tracks/"+track+"/media.mp4"); c != 403 {
		t.Errorf("viewer downloads: %d, want 403", c)
	}
	runCLI(t, srv.getenv, "grant", "add", "--tenant", "Uni", "--folder", "/Physics", "--email", "student@uni.example", "--role", "publisher")
	// The server's cached decision lasts at most 2 s.
	var c int
	var media []byte
	for range 30 {
		if c, media = get(view, "/api/v1/recordings/"+final.ID+"/tracks/"+track+"/media.mp4"); c == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c != 200 {
		t.Fatalf("publisher downloads: %d: %s", c, media)
	}
	file := filepath.Join(t.TempDir(), "track.mp4")
	if err := os.WriteFile(file, media, 0o600); err != nil {
		t.Fatal(err)
	}
	p := mediatest.FFprobe(t, file)
	if len(p.Streams) != 1 || p.Streams[0].CodecType != "video" || p.Duration() < 1 {
		t.Errorf("downloaded track: %+v, duration %.2f s", p.Streams, p.Duration())
	}
	// Deleting: only with edit (the publisher has none), then gone with its objects.
	del := func(token string) int {
		req, _ := http.NewRequest("DELETE", srv.url+"/api/v1/recordings/"+final.ID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := del(view); c != 403 {
		t.Errorf("publisher deletes: %d, want 403", c)
	}
	if c := del(adminToken); c != 204 {
		t.Fatalf("administrator deletes: %d", c)
	}
	var left []string
	filepath.WalkDir(filepath.Join(srv.data, "blobs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(path, final.ID) {
			left = append(left, path)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("%d objects of the deleted recording left, such as %s", len(left), left[0])
	}
	// The rest of SECURITY §20's events: a failed sign-in, 2FA and a password change (an
	// administrator's first sign-in), agent enrollment, a policy change (the firewall).
	if _, status, _ := newBrowser(t, srv).do("POST", "/signin", url.Values{"email": {"student@uni.example"}, "password": {"wrong password, long enough"}}); status != 200 && status != 401 && status != 403 {
		t.Errorf("failed sign-in: %d", status)
	}
	firstSignIn(t, srv, "head@uni.example", password(t, runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "head@uni.example", "--role", "admin")))
	runCLI(t, srv.getenv, "enrollment", "create", "--tenant", "Uni", "--room", "Hall B", "--folder", "/Physics")
	runCLI(t, srv.getenv, "firewall", "set", "--tenant", "Uni", "--allow", "127.0.0.0/8,::1/128")
	s := storeOf(t, srv)
	tn, err := s.TenantByName(context.Background(), "Uni")
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.AuditEvents(context.Background(), tn.ID, 500)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"folder.created", "account.created", "grant.added", "recording.viewed", "recording.edited",
		"recording.downloaded", "recording.deleted", "signin", "signin.failed", "password.changed", "2fa.enabled",
		"agent.enrollment_created", "firewall.changed"} {
		if !slices.Contains(actions, want) {
			t.Errorf("no %s in the audit log (%v)", want, actions)
		}
	}
	for _, e := range events {
		if e.At.IsZero() || e.Result == "" || len(e.MAC) == 0 || e.Seq == 0 {
			t.Errorf("audit record %d %s lacks time, result, seq or MAC: %+v", e.Seq, e.Action, e)
			break
		}
	}
	// The chain verifies; an edited record is named by verify.
	if out := runCLIResult(t, srv.getenv, "audit", "verify", "--tenant", "Uni"); out.err != nil {
		t.Fatalf("audit verify on an untouched log: %v: %s", out.err, out.stderr)
	}
	db, err := sql.Open("sqlite", filepath.Join(srv.data, "aula.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_events SET detail = detail || ' (edited)' WHERE action = 'recording.deleted'`); err != nil {
		t.Fatal(err)
	}
	out := runCLIResult(t, srv.getenv, "audit", "verify", "--tenant", "Uni")
	if out.err == nil || !strings.Contains(out.stderr+out.stdout, "edited") {
		t.Errorf("audit verify after an edit: %v, %q %q", out.err, out.stdout, out.stderr)
	}
}
