package blob

import "errors"

// ErrNotFound reports that no object exists under a key.
var ErrNotFound = errors.New("blob not found")

// ErrBadKey reports a key, prefix or key part that fails validation; the wrapping error
// names the part.
var ErrBadKey = errors.New("bad blob key")

// ErrSizeMismatch reports a Put body whose length differs from the size given.
var ErrSizeMismatch = errors.New("blob size mismatch")

// errStagedDone reports a Commit of a Staged object that was committed or discarded.
var errStagedDone = errors.New("staged object already committed or discarded")
