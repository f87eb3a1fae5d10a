package spool

import "errors"

var (
	// ErrQuota reports a write that would take the spool past Options.QuotaBytes.
	ErrQuota = errors.New("spool quota exceeded")
	// ErrLowDisk reports a write that would leave less than Options.MinFreeBytes free on
	// the spool's file system.
	ErrLowDisk = errors.New("not enough free disk space for the spool")
	// ErrClosed reports use of a spool after Close.
	ErrClosed = errors.New("spool closed")
	// ErrNoRecipient reports Options without any recipient to seal to.
	ErrNoRecipient = errors.New("spool needs at least one recipient")
	// ErrInvalid reports a bad recording id, track id, sequence number or manifest.
	ErrInvalid = errors.New("invalid spool input")
	// ErrTooLarge reports a segment larger than MaxSegmentSize.
	ErrTooLarge = errors.New("segment too large for the spool")
	// ErrExists reports a segment or init segment that is already spooled.
	ErrExists = errors.New("already spooled")
	// ErrFinished reports a write to a recording that was finished.
	ErrFinished = errors.New("recording already finished")
	// ErrNotFound reports an item or recording the index does not know.
	ErrNotFound = errors.New("not in the spool")
	// ErrDigestMismatch reports an acknowledgement whose digest differs from the digest of
	// the sealed bytes in the spool; the item is not marked acked.
	ErrDigestMismatch = errors.New("acknowledged digest does not match the spooled segment")
	// ErrState reports a state change that does not fit the item's state (for example
	// acking a lost segment).
	ErrState = errors.New("wrong state for this change")
	// ErrPending reports Forget on a recording that still has segments to upload.
	ErrPending = errors.New("recording still has segments to upload")
)
