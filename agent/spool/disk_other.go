//go:build !unix

package spool

// freeSpace is not measured on this system, so MinFreeBytes is not enforced here.
func freeSpace(string) (int64, bool) { return 0, false }
