package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aulacapture/aula/server/blob"
)

func newFS(t *testing.T) (*blob.FS, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := blob.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func TestNewFS(t *testing.T) {
	if _, err := blob.NewFS(""); err == nil {
		t.Fatal("NewFS(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.NewFS(file); err == nil {
		t.Fatal("NewFS(a file) succeeded")
	}
	s, dir := newFS(t)
	if s.Dir() != dir {
		t.Fatalf("Dir = %q, want %q", s.Dir(), dir)
	}
}

func TestFSPermissions(t *testing.T) {
	s, dir := newFS(t)
	ctx := context.Background()
	k := key(t, tenant, recording, "camera", 1)
	put(ctx, t, s, k, []byte("sealed"))
	p := filepath.Join(dir, filepath.FromSlash(k.String()))
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
		t.Errorf("file mode %v, want at most 0640", perm)
	}
	for d := filepath.Dir(p); d != dir; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&^0o750 != 0 {
			t.Errorf("directory %s mode %v, want at most 0750", d, perm)
		}
	}
	rc, err := s.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("Get gave %T, want *os.File", rc)
	}
}

// TestFSSymlinkEscape plants a symlink where a tenant's directory would be: the store
// must neither write nor read through it, although the key is valid.
func TestFSSymlinkEscape(t *testing.T) {
	s, dir := newFS(t)
	ctx := context.Background()
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tenants"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "tenants", tenant)); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(outside, "recordings", recording, "camera", "init.mp4")
	if err := os.MkdirAll(filepath.Dir(victim), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := blob.InitKey(tenant, recording, "camera")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, k, bytesReader("evil"), 4); err == nil {
		t.Error("Put through a symlink out of the store succeeded")
	}
	if b, _ := os.ReadFile(victim); string(b) != "outside" {
		t.Errorf("file outside the store changed to %q", b)
	}
	if rc, err := s.Get(ctx, k); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		t.Errorf("Get through a symlink out of the store read %q", b)
	}
	if _, err := s.Stat(ctx, k); err == nil {
		t.Error("Stat through a symlink out of the store succeeded")
	}
	if err := s.Delete(ctx, k); err == nil {
		t.Error("Delete through a symlink out of the store succeeded")
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("file outside the store: %v", err)
	}
	if keys, err := s.List(ctx, mustPrefix(blob.TenantPrefix(tenant))); err == nil && len(keys) > 0 {
		t.Errorf("List through a symlink out of the store gave %v", keys)
	}
}

// TestFSListSkipsStrays puts files that are not keys among real objects.
func TestFSListSkipsStrays(t *testing.T) {
	s, dir := newFS(t)
	ctx := context.Background()
	k := key(t, tenant, recording, "camera", 1)
	put(ctx, t, s, k, []byte("x"))
	trackDir := filepath.Join(dir, filepath.FromSlash(filepath.Dir(k.String())))
	for _, name := range []string{".tmp-0123", "notes.txt", "1.m4s", "0000001.m4s", "INIT.mp4"} {
		if err := os.WriteFile(filepath.Join(trackDir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(trackDir, "000002.m4s"), 0o750); err != nil { // a directory, not an object
		t.Fatal(err)
	}
	got, err := s.List(ctx, mustPrefix(blob.RecordingPrefix(tenant, recording)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []blob.Key{k}) {
		t.Fatalf("List = %v, want [%v]", got, k)
	}
	k2 := key(t, tenant, recording, "camera", 2)
	if _, err := s.Get(ctx, k2); err == nil {
		t.Error("Get of a directory succeeded")
	}
	if _, err := s.Stat(ctx, k2); err == nil {
		t.Error("Stat of a directory succeeded")
	}
	if err := s.Put(ctx, k2, bytesReader("x"), 1); err == nil {
		t.Error("Put over a directory succeeded")
	}
	if left := strays(t, dir); !slices.Equal(left, []string{filepath.Join(filepath.Dir(filepath.FromSlash(k.String())), ".tmp-0123")}) {
		t.Errorf("temporary files: %v", left)
	}
}

func TestFSClosed(t *testing.T) {
	s, err := blob.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	k := key(t, tenant, recording, "camera", 1)
	if err := s.Put(context.Background(), k, bytesReader("x"), 1); err == nil || errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Put on a closed FS err = %v", err)
	}
}

func bytesReader(s string) io.Reader { return onlyReader{r: strings.NewReader(s)} }

// TestFSStage writes objects in two steps: nothing is seen before Commit, nothing is
// left after Discard.
func TestFSStage(t *testing.T) {
	s, dir := newFS(t)
	testStage(t, s, dir)
}

func testStage(t *testing.T, s *blob.FS, dir string) {
	ctx := context.Background()
	tn := newTenant()
	k := key(t, tn, recording, "camera", 1)
	old := randomBytes(t, 5000)
	put(ctx, t, s, k, old)

	// Discarded: the old object stays, no file is left.
	st, err := s.Stage(ctx, k, bytesReader(strings.Repeat("n", 3000)), 3000)
	if err != nil {
		t.Fatal(err)
	}
	mustGet(ctx, t, s, k, old)
	st.Discard()
	st.Discard()
	mustGet(ctx, t, s, k, old)
	if err := st.Commit(ctx); err == nil {
		t.Error("Commit after Discard succeeded")
	}

	// Committed: the new object replaces the old one; a second Commit fails.
	neu := randomBytes(t, 70_000)
	st, err = s.Stage(ctx, k, onlyReader{bytes.NewReader(neu)}, int64(len(neu)))
	if err != nil {
		t.Fatal(err)
	}
	mustGet(ctx, t, s, k, old)
	if err := st.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	st.Discard()
	mustGet(ctx, t, s, k, neu)
	if err := st.Commit(ctx); err == nil {
		t.Error("second Commit succeeded")
	}

	// A body of the wrong size is refused at Stage.
	if _, err := s.Stage(ctx, key(t, tn, recording, "camera", 2), bytesReader("short"), 6); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Errorf("Stage of a short body: %v", err)
	}
	// A cancelled Commit names nothing.
	k3 := key(t, tn, recording, "camera", 3)
	st, err = s.Stage(ctx, k3, bytesReader("three"), 5)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.Commit(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Commit: %v", err)
	}
	if _, err := s.Get(ctx, k3); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get after a cancelled Commit: %v", err)
	}
	if left := strays(t, dir); len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
}
