package keyring

import "errors"

var (
	// ErrInsecureKeyFile reports a master key file that group or others may read or write,
	// or that is not a regular file.
	ErrInsecureKeyFile = errors.New("insecure master key file")
	// ErrBadKeyFile reports a master key file that does not hold exactly one age X25519
	// identity.
	ErrBadKeyFile = errors.New("malformed master key file")
	// ErrWrongMaster reports a wrapped tenant key that this master did not wrap.
	ErrWrongMaster = errors.New("tenant key was wrapped by another master key")
	// ErrBadWrappedKey reports a wrapped tenant key that is damaged or does not hold an age
	// X25519 identity.
	ErrBadWrappedKey = errors.New("malformed wrapped tenant key")
)
