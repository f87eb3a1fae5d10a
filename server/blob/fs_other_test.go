//go:build !linux

package blob_test

// fsVariants is empty: FS has one write path outside Linux.
func fsVariants() []impl { return nil }
