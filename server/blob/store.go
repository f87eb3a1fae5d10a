package blob

import (
	"context"
	"fmt"
	"io"
)

// Store keeps objects under keys. Implementations are safe for concurrent use.
type Store interface {
	// Put stores exactly size bytes read from r under key, replacing any object there.
	// It is atomic: a reader sees the old object or the whole new one, never a part, and
	// a Put that fails (r fails, r's length is not size, ctx is done) leaves no object
	// behind where there was none. A body of another length than size fails with
	// ErrSizeMismatch.
	Put(ctx context.Context, key Key, r io.Reader, size int64) error
	// Get opens the object under key, or fails with ErrNotFound. The caller closes it.
	Get(ctx context.Context, key Key) (io.ReadCloser, error)
}

// Stager is a Store that can write an object before its caller decides to keep it, so
// that the writing can overlap the checks that decide. Stage followed by Commit is Put.
type Stager interface {
	// Stage writes exactly size bytes read from r for key, durably but where no reader
	// of key sees them, or fails as Put would. The caller must Commit or Discard what it
	// returns.
	Stage(ctx context.Context, key Key, r io.Reader, size int64) (Staged, error)
}

// Staged is an object that Stage wrote and that no reader sees yet.
type Staged interface {
	// Commit puts the object under its key, replacing any object there, atomically and
	// durably, as Put does once it has read the body.
	Commit(ctx context.Context) error
	// Discard drops the object unless Commit put it in place; it may be called after
	// Commit, and more than once.
	Discard()
}

// Deleter is a Store that can remove objects.
type Deleter interface {
	// Delete removes the object under key; a missing object is not an error.
	Delete(ctx context.Context, key Key) error
}

// Lister is a Store that can list its keys.
type Lister interface {
	// List gives every key under prefix, in lexical order of Key.String.
	List(ctx context.Context, prefix Prefix) ([]Key, error)
}

// Stater is a Store that can tell an object's size without reading it.
type Stater interface {
	// Stat gives the size in bytes of the object under key, or fails with ErrNotFound.
	Stat(ctx context.Context, key Key) (size int64, err error)
}

// exactReader passes through the first size bytes of r and fails with ErrSizeMismatch
// when r ends early or has more; it also fails once ctx is done, so a slow body cannot
// hold a Put past its deadline.
type exactReader struct {
	ctx  context.Context
	r    io.Reader
	left int64 // bytes still expected
	size int64
}

func newExactReader(ctx context.Context, r io.Reader, size int64) *exactReader {
	return &exactReader{ctx: ctx, r: r, left: size, size: size}
}

func (e *exactReader) Read(p []byte) (int, error) {
	if err := e.ctx.Err(); err != nil {
		return 0, context.Cause(e.ctx)
	}
	if e.left == 0 {
		// The body must end here: probe for one more byte.
		var one [1]byte
		n, err := io.ReadFull(e.r, one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: body longer than %d bytes", ErrSizeMismatch, e.size)
		}
		if err == io.EOF {
			return 0, io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF {
		if e.left > 0 {
			return n, fmt.Errorf("%w: body ended after %d of %d bytes", ErrSizeMismatch, e.size-e.left, e.size)
		}
		err = nil // the probe above reports the end
	}
	return n, err
}

func checkSize(size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrSizeMismatch, size)
	}
	return nil
}
