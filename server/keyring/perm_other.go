//go:build !unix

package keyring

import (
	"fmt"
	"io/fs"
	"runtime"
)

// checkPrivate cannot tell who may read a file here (Windows keeps that in ACLs, which Go
// does not report), so it refuses rather than load a key it cannot vouch for.
func checkPrivate(path string, _ fs.FileInfo) error {
	return fmt.Errorf("%w: %q: cannot check key file access on %s", ErrInsecureKeyFile, path, runtime.GOOS)
}

// syncDir is a no-op where directories cannot be synced.
func syncDir(string) error { return nil }
