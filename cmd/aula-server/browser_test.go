package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aulacapture/aula/server"
)

// TestPlayInBrowser uploads a real recording and plays it in headless Chromium (Debian's
// chromium driven by playwright-core): sign-in, the list, the player; playback passes
// 5 s, both video elements render frames, no console errors. The screenshot is kept as
// a test artifact (go test -artifacts).
func TestPlayInBrowser(t *testing.T) {
	for name, setup := range backends(t) {
		t.Run(name, func(t *testing.T) { playInBrowser(t, setup) })
	}
}

func playInBrowser(t *testing.T, setup func(*testing.T, *server.Config)) {
	srv := start(t, setup)
	_, final := uploadFixture(t, srv)
	// A viewer (no second factor) who has chosen a password at the first sign-in.
	pw := firstSignIn(t, srv, "viewer@uni.example", password(t, runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "viewer@uni.example"))).password
	shot := filepath.Join(t.ArtifactDir(), "player.png")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "e2e/play.mjs", srv.url, "viewer@uni.example", pw, final.ID, shot)
	cmd.Dir = "../.."
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node e2e/play.mjs: %v (make setup installs chromium and playwright-core): %s", err, raw)
	}
	var res struct {
		Errors      []string
		SignedIn    bool
		Listed      bool
		CurrentTime float64
		Frames      map[string]int
		Sizes       map[string]string
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("browser said %q", raw)
	}
	t.Logf("browser: %s", raw)
	if !res.SignedIn || !res.Listed {
		t.Errorf("signed in %v, recording listed %v", res.SignedIn, res.Listed)
	}
	if res.CurrentTime <= 5 {
		t.Errorf("playback reached %.2f s, want past 5 s", res.CurrentTime)
	}
	for _, id := range []string{"main", "second"} {
		if res.Frames[id] == 0 {
			t.Errorf("video %s rendered no frames (size %s)", id, res.Sizes[id])
		}
	}
	if len(res.Errors) > 0 {
		t.Errorf("errors in the browser: %q", res.Errors)
	}
	if _, err := os.Stat(shot); err != nil {
		t.Errorf("no screenshot: %v", err)
	}
}
