package recording

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aulacapture/aula/capture"
	"github.com/aulacapture/aula/internal/manifest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRecorderSynthetic records 3 s of the synthetic camera and microphone into a
// directory and checks what the store received.
func TestRecorderSynthetic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	store, err := NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	cam, _ := capture.ParseSpec(capture.KindCamera, "synthetic,size=320x240")
	mic, _ := capture.ParseSpec(capture.KindMicrophone, "synthetic")
	rec, err := New(Options{Title: "Unit", Camera: &cam, Microphone: &mic, Duration: 3 * time.Second, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := rec.Manifest()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m.State != manifest.StateCaptureFinished || len(m.Tracks) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	for _, tr := range m.Tracks {
		if len(tr.Segments) != 2 {
			t.Errorf("%s: %d segments for 3 s, want 2", tr.ID, len(tr.Segments))
		}
		if _, err := os.Stat(filepath.Join(dir, tr.ID, "init.mp4")); err != nil {
			t.Error(err)
		}
	}
	st := rec.Status()
	if st.Bytes == 0 || len(st.Tracks) != 2 || st.Tracks[0].Frames < 85 {
		t.Errorf("status %+v", st)
	}
	// Nothing temporary is left behind.
	left, _ := filepath.Glob(filepath.Join(dir, "*", ".*tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestNewDirStoreRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDirStore(dir); !errors.Is(err, ErrExists) {
		t.Errorf("NewDirStore over a recording = %v, want ErrExists", err)
	}
}

func TestNewRequiresSources(t *testing.T) {
	if _, err := New(Options{Store: &DirStore{}}); !errors.Is(err, ErrNoSources) {
		t.Errorf("New without sources = %v", err)
	}
}

// TestStopOnCancel: cancelling the context stops a recording without duration, with
// a final manifest.
func TestStopOnCancel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	store, err := NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	cam, _ := capture.ParseSpec(capture.KindCamera, "synthetic,size=160x120")
	rec, err := New(Options{Camera: &cam, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "camera", "index.m3u8"))
	if err != nil || !strings.Contains(string(data), "#EXT-X-ENDLIST") {
		t.Errorf("playlist not final: %v %s", err, data)
	}
}
