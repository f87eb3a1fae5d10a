//go:build !unix

package recording

import "errors"

// FreeSpace is not measured on this system; callers treat the error as "unknown".
func FreeSpace(string) (uint64, error) { return 0, errors.New("free space unknown on this system") }
