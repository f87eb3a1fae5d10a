//go:build !linux

package blob

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// fsSys is empty where FS writes through the portable path only.
type fsSys struct{}

// tempFile is a file that write made, its data synced, under a temporary name.
type tempFile struct {
	root     *os.Root
	dir, tmp string
}

// write stores r in a new file in the directory dir of root, under a temporary name,
// its data synced.
func (fsSys) write(_ context.Context, root *os.Root, _ *os.File, dir string, r io.Reader, _ int64) (_ *tempFile, err error) {
	t := &tempFile{root: root, dir: dir, tmp: filepath.Join(dir, tmpName())}
	f, err := root.OpenFile(t.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = f.Close() // may be closed already; the error then says nothing new
			_ = root.Remove(t.tmp)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return t, nil
}

// publish renames the file to name in its directory, replacing any file there.
func (t *tempFile) publish(name string) error {
	if err := t.root.Rename(t.tmp, filepath.Join(t.dir, name)); err != nil {
		t.discard()
		return err
	}
	return nil
}

// discard removes the file.
func (t *tempFile) discard() { _ = t.root.Remove(t.tmp) }
