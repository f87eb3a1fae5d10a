package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
)

// magic starts every binary age v1 file.
const magic = "age-encryption.org/v1\n"

// armorMagic starts an ASCII-armored age file, which Open refuses so that what is stored
// is always what was digested.
const armorMagic = "-----BEGIN AGE ENCRYPTED FILE-----"

// Seal encrypts plaintext to every recipient and writes the sealed segment to dst.
// Any one of the recipients' identities can open it.
func Seal(dst io.Writer, plaintext []byte, recipients ...age.Recipient) error {
	w, err := NewWriter(dst, recipients...)
	if err != nil {
		return err
	}
	if _, err := w.Write(plaintext); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	return nil
}

// NewWriter returns a writer that seals what is written to it to every recipient and
// writes the result to dst. The caller must Close it to write the final chunk; Close does
// not close dst.
func NewWriter(dst io.Writer, recipients ...age.Recipient) (io.WriteCloser, error) {
	if len(recipients) == 0 {
		return nil, ErrNoRecipient
	}
	w, err := age.Encrypt(dst, recipients...)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return w, nil
}

// Open decrypts a sealed segment in memory with the first identity that matches and
// returns the plaintext. It refuses a plaintext longer than maxPlain bytes with
// ErrTooLarge before decrypting the payload; maxPlain <= 0 means no cap beyond len(sealed).
// Every chunk is authenticated, so a truncated or altered segment gives ErrCorrupt, never
// partial plaintext.
func Open(sealed []byte, maxPlain int, identities ...age.Identity) ([]byte, error) {
	return AppendOpen(nil, sealed, maxPlain, identities...)
}

// AppendOpen is Open that appends the plaintext to dst and returns the extended slice,
// so that a caller that opens many segments can reuse one buffer: when dst has the
// capacity, nothing is allocated for the plaintext. On error it returns nil, and dst's
// spare capacity may hold part of the plaintext.
func AppendOpen(dst, sealed []byte, maxPlain int, identities ...age.Identity) ([]byte, error) {
	if !bytes.HasPrefix(sealed, []byte(magic)) {
		if bytes.HasPrefix(sealed, []byte(armorMagic)) {
			return nil, fmt.Errorf("%w: armored age file, want binary", ErrNotSealed)
		}
		return nil, ErrNotSealed
	}
	if len(identities) == 0 {
		return nil, fmt.Errorf("%w: no identities given", ErrNoKey)
	}
	r, size, err := age.DecryptReaderAt(bytes.NewReader(sealed), int64(len(sealed)), identities...)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			return nil, ErrNoKey
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if maxPlain > 0 && size > int64(maxPlain) {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, size, maxPlain)
	}
	// size is at most len(sealed): age only adds to the plaintext.
	out := slices.Grow(dst, int(size))
	plain := out[len(dst) : len(dst)+int(size)]
	n, err := r.ReadAt(plain, 0)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return out[:len(dst)+int(size)], nil
}

// ParseRecipient parses an age X25519 recipient ("age1…"), as the server publishes it and
// the agent pins it.
func ParseRecipient(s string) (*age.X25519Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, fmt.Errorf("%w: empty", ErrBadRecipient)
	case strings.HasPrefix(s, "AGE-SECRET-KEY-"):
		// Never echo a secret key back into an error (and so into a log).
		return nil, fmt.Errorf("%w: this is a secret key, want the public recipient (age1…)", ErrBadRecipient)
	case strings.HasPrefix(s, "age1pq1"):
		return nil, fmt.Errorf("%w: post-quantum recipient, want X25519 (age1…)", ErrBadRecipient)
	case strings.HasPrefix(s, "ssh-"):
		return nil, fmt.Errorf("%w: SSH key, want an age X25519 recipient (age1…)", ErrBadRecipient)
	}
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecipient, err)
	}
	return r, nil
}
