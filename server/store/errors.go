package store

import "errors"

var (
	// ErrNotFound means the row does not exist for the caller's tenant. Another tenant's
	// row answers ErrNotFound too, so a caller cannot tell the two apart.
	ErrNotFound = errors.New("not found")

	// ErrExists means a row with the same identity (ID, name, e-mail or hash) exists.
	ErrExists = errors.New("already exists")

	// ErrConflict means the request contradicts what is stored: a segment or init
	// segment with a different digest, or a track whose kind or codec would change
	// after segments arrived.
	ErrConflict = errors.New("conflict")

	// ErrInvalid means an argument cannot be stored: an empty ID, an unknown role or
	// track kind, a negative number, a time outside what the store represents.
	ErrInvalid = errors.New("invalid")
)
