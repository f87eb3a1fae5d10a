package seal

import "errors"

var (
	// ErrNotSealed reports input that is not a binary age file (no age header, or an armored
	// one).
	ErrNotSealed = errors.New("not a sealed segment")
	// ErrNoKey reports that none of the given identities can open a sealed segment.
	ErrNoKey = errors.New("no identity opens the sealed segment")
	// ErrTooLarge reports a sealed segment whose plaintext exceeds the caller's cap.
	ErrTooLarge = errors.New("sealed segment too large")
	// ErrCorrupt reports a sealed segment whose header or payload fails to parse or
	// authenticate: it was truncated or altered.
	ErrCorrupt = errors.New("sealed segment corrupt")
	// ErrBadRecipient reports a recipient string that is not an age X25519 recipient.
	ErrBadRecipient = errors.New("invalid age recipient")
	// ErrNoRecipient reports a Seal call without any recipient.
	ErrNoRecipient = errors.New("no recipient to seal to")
)
