//go:build unix

package keyring

import (
	"fmt"
	"io/fs"
	"os"
)

// checkPrivate refuses a key file that is not a regular file or that group or others may
// access, as ssh does for private keys.
func checkPrivate(path string, info fs.FileInfo) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is not a regular file", ErrInsecureKeyFile, path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %q has mode %04o, group and others must have no access (chmod 600 %q)",
			ErrInsecureKeyFile, path, perm, path)
	}
	return nil
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
