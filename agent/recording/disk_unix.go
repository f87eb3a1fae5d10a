//go:build unix

package recording

import "golang.org/x/sys/unix"

// FreeSpace is how many bytes an unprivileged writer may still put on dir's file system.
func FreeSpace(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil //nolint:gosec // Bsize is positive
}
