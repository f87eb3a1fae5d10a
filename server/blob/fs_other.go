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

// write stores r as name in the directory dir of root: a named temporary file, its data
// synced, then renamed over name.
func (fsSys) write(ctx context.Context, root *os.Root, _ *os.File, dir, name string, r io.Reader, _ int64) (err error) {
	tmp := filepath.Join(dir, tmpName())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close() // may be closed already; the error then says nothing new
			_ = root.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	return root.Rename(tmp, filepath.Join(dir, name))
}
