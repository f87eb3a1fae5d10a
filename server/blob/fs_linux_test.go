package blob_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/iotest"

	"golang.org/x/sys/unix"

	"github.com/aulacapture/aula/server/blob"
)

// fsVariants are FS stores forced onto the Linux write paths that the default one skips
// on a filesystem with O_TMPFILE and O_DIRECT, for the whole suite.
func fsVariants() []impl {
	variant := func(name string, tmpfile, direct bool) impl {
		return impl{name: name, setup: func(t *testing.T) (func(*testing.T) store, func(*testing.T) []string) {
			dir := t.TempDir()
			return func(t *testing.T) store {
					s, err := blob.NewFSForcing(dir, tmpfile, direct)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { s.Close() })
					return s
				},
				func(t *testing.T) []string { return strays(t, dir) }
		}}
	}
	return []impl{
		variant("FS-named", false, true),
		variant("FS-pagecache", true, false),
		variant("FS-named-pagecache", false, false),
	}
}

// TestFSAlignment puts objects whose sizes sit at the edges of O_DIRECT's blocks and of
// the chunk buffer, over objects of other sizes, on every write path.
func TestFSAlignment(t *testing.T) {
	const chunk = 512 << 10 // the chunk buffer's size
	sizes := []int{4095, 4096, 4097, 8191, chunk - 1, chunk, chunk + 1, chunk + 4096 + 7, 2*chunk + 4096}
	for _, v := range []struct {
		name            string
		tmpfile, direct bool
	}{{"tmpfile-direct", true, true}, {"named-direct", false, true}, {"tmpfile-pagecache", true, false}, {"named-pagecache", false, false}} {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := blob.NewFSForcing(dir, v.tmpfile, v.direct)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			tn := newTenant()
			for i, size := range sizes {
				k := key(t, tn, recording, "camera", i+1)
				// Twice: the second replaces the first, of another size.
				for j, n := range []int{sizes[(i+3)%len(sizes)], size} {
					data := randomBytes(t, n)
					// A body that comes in pieces, as over the network, and one that
					// comes whole.
					r := io.Reader(onlyReader{bytes.NewReader(data)})
					if j == 0 {
						r = iotest.HalfReader(r)
					}
					if err := s.Put(ctx, k, r, int64(n)); err != nil {
						t.Fatalf("Put %d bytes: %v", n, err)
					}
					mustGet(ctx, t, s, k, data)
				}
			}
			if left := strays(t, dir); len(left) > 0 {
				t.Errorf("temporary files left: %q", left)
			}
		})
	}
}

// TestFSFastPath checks that on ext4, xfs and btrfs, which have O_TMPFILE and O_DIRECT,
// FS takes both; elsewhere (tmpfs, overlayfs) the put must still work through the
// fallback, and the modes it fell back to are logged.
func TestFSFastPath(t *testing.T) {
	s, dir := newFS(t)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	put(context.Background(), t, s, key(t, newTenant(), recording, "camera", 1), randomBytes(t, 100_000))
	tmpfile, direct := blob.FSModes(s)
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC:
		if !tmpfile || !direct {
			t.Errorf("FS uses O_TMPFILE %v, O_DIRECT %v; want both", tmpfile, direct)
		}
	default:
		t.Logf("file system %#x: O_TMPFILE %v, O_DIRECT %v (the fallback paths are tested by the other FS tests)", st.Type, tmpfile, direct)
	}
}

// TestFSStageNamed is TestFSStage with named temporary files.
func TestFSStageNamed(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewFSForcing(dir, false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testStage(t, s, dir)
}
