package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Permissions of what FS creates: objects are sealed already, but still no one outside
// the server's user and group reads them.
const (
	dirPerm  = 0o750
	filePerm = 0o640
)

// tmpPrefix starts the names of FS's temporary files, which List skips; no key's file
// name starts with a dot.
const tmpPrefix = ".tmp-"

// FS is a Store of files under one directory, named by their keys. Every access goes
// through an os.Root, so even a key that somehow escaped validation could not reach a
// file outside the directory, by ".." or by symlink.
type FS struct {
	dir   string
	root  *os.Root
	syncs dirSyncs
	sys   fsSys // what the platform's write path needs
}

var (
	_ Store   = (*FS)(nil)
	_ Stager  = (*FS)(nil)
	_ Deleter = (*FS)(nil)
	_ Lister  = (*FS)(nil)
	_ Stater  = (*FS)(nil)
)

// NewFS opens (creating it if missing) the directory dir as a Store. Close releases it.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("blob directory: empty path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("blob directory %q: %w", abs, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("blob directory %q: %w", abs, err)
	}
	return &FS{dir: abs, root: root}, nil
}

// Dir gives the absolute path of the store's directory.
func (s *FS) Dir() string { return s.dir }

// Close releases the directory. The FS must not be used afterwards.
func (s *FS) Close() error { return s.root.Close() }

// rel gives key's path relative to the store's directory, after checking once more
// that it stays inside.
func rel(key Key) (string, error) {
	if err := key.check(); err != nil {
		return "", err
	}
	p := filepath.FromSlash(key.String())
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("%w: %q escapes the store", ErrBadKey, key.String())
	}
	return p, nil
}

// Put writes the object beside its final name, syncs its data, gives it the final name
// (atomically replacing any object there) and syncs the directory, so that a crash
// leaves the old object or the new one, and the new one is durable once Put returns.
// On Linux the new file is unnamed (O_TMPFILE) until it is linked under its key and its
// data bypasses the page cache (O_DIRECT), where the filesystem allows; elsewhere it is a
// ".tmp-" file renamed over the key. Concurrent Puts into one directory share directory
// syncs (see dirSyncs), but each returns only after a sync that began after its own
// file was named. Put is Stage then Commit.
func (s *FS) Put(ctx context.Context, key Key, r io.Reader, size int64) error {
	st, err := s.Stage(ctx, key, r, size)
	if err != nil {
		return err
	}
	defer st.Discard()
	return st.Commit(ctx)
}

// Stage does the first half of Put: the object's bytes are written and synced, but
// still nameless (or under a temporary name) in the key's directory.
func (s *FS) Stage(ctx context.Context, key Key, r io.Reader, size int64) (Staged, error) {
	p, err := rel(key)
	if err != nil {
		return nil, err
	}
	if err := checkSize(size); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("put %s: %w", key, context.Cause(ctx))
	}
	dir := filepath.Dir(p)
	d, err := s.openDir(dir)
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	f, err := s.sys.write(ctx, s.root, d, dir, newExactReader(ctx, r, size), size)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	return &fsStaged{fs: s, key: key, dir: dir, name: filepath.Base(p), d: d, f: f}, nil
}

// fsStaged is an object that FS.Stage wrote.
type fsStaged struct {
	fs        *FS
	key       Key
	dir, name string
	d         *os.File // the directory
	f         *tempFile
}

var _ Staged = (*fsStaged)(nil)

// Commit names the object and syncs the directory, sharing the sync with concurrent
// Commits into the directory.
func (t *fsStaged) Commit(ctx context.Context) error {
	if t.f == nil {
		return fmt.Errorf("put %s: %w", t.key, errStagedDone)
	}
	defer t.Discard()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", t.key, context.Cause(ctx))
	}
	err := t.f.publish(t.name)
	t.f = nil
	if err != nil {
		return fmt.Errorf("put %s: %w", t.key, err)
	}
	// The object is in place now; a failed directory sync only weakens durability, but
	// the caller must hear of it, since it may acknowledge the upload.
	if err := t.fs.syncs.sync(t.dir, t.d.Sync); err != nil {
		return fmt.Errorf("put %s: sync directory: %w", t.key, err)
	}
	return nil
}

// Discard drops the object unless Commit named it, and releases the directory.
func (t *fsStaged) Discard() {
	if t.f != nil {
		t.f.discard()
		t.f = nil
	}
	if t.d != nil {
		t.d.Close()
		t.d = nil
	}
}

// openDir opens the directory dir, creating it and its missing parents first if need be.
func (s *FS) openDir(dir string) (*os.File, error) {
	d, err := s.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.mkdirs(dir); err != nil {
			return nil, err
		}
		d, err = s.root.Open(dir)
	}
	if err != nil {
		return nil, err
	}
	if fi, err := d.Stat(); err != nil || !fi.IsDir() {
		d.Close()
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return d, nil
}

// tmpName gives a fresh name for a temporary file.
func tmpName() string {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:]) // never fails
	return tmpPrefix + hex.EncodeToString(rnd[:])
}

// mkdirs creates dir and its missing parents, syncing each parent that gained an entry
// so that the new directories survive a crash.
func (s *FS) mkdirs(dir string) error {
	var created []string
	for d := dir; d != "."; d = filepath.Dir(d) {
		if _, err := s.root.Stat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	if err := s.root.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	for _, d := range created {
		if err := s.syncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("sync directory: %w", err)
		}
	}
	return nil
}

// syncDir syncs the directory dir, sharing the sync with concurrent callers for dir.
func (s *FS) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = s.syncs.sync(dir, d.Sync)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get opens the object's file; the *os.File it returns does not depend on ctx.
func (s *FS) Get(ctx context.Context, key Key) (io.ReadCloser, error) {
	p, err := rel(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, context.Cause(ctx))
	}
	f, err := s.root.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("get %s: not a regular file", key)
	}
	return f, nil
}

// Delete removes the object's file. Its directories stay (see the package's Caveats).
func (s *FS) Delete(ctx context.Context, key Key) error {
	p, err := rel(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, context.Cause(ctx))
	}
	err = s.root.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := s.syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete %s: sync directory: %w", key, err)
	}
	return nil
}

// Stat gives the size of the object's file.
func (s *FS) Stat(ctx context.Context, key Key) (int64, error) {
	p, err := rel(key)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("stat %s: %w", key, context.Cause(ctx))
	}
	fi, err := s.root.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("stat %s: not a regular file", key)
	}
	return fi.Size(), nil
}

// List walks the prefix's directory; files that are not keys (temporary files, strays)
// are skipped.
func (s *FS) List(ctx context.Context, prefix Prefix) ([]Key, error) {
	if err := prefix.check(); err != nil {
		return nil, err
	}
	start := strings.TrimSuffix(prefix.String(), "/") // fs.FS paths: slashes, no trailing one
	var keys []Key
	err := fs.WalkDir(s.root.FS(), start, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if !d.Type().IsRegular() || strings.HasPrefix(path.Base(name), ".") {
			return nil
		}
		k, err := ParseKey(name)
		if err != nil || !prefix.Contains(k) {
			return nil
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	// A walk orders "cam/…" before "cam-2/…", Key.String the other way round, as S3 does.
	slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(a.String(), b.String()) })
	return keys, nil
}
