package seal

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
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
//
// age's header (recipient stanzas, MAC) is read and opened by age itself; the payload,
// age's STREAM of ChaCha20-Poly1305 chunks, is opened here, each chunk straight from
// sealed into dst, without the copies through chunk buffers that age's readers make.
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
	hdr, err := age.ExtractHeader(bytes.NewReader(sealed))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	fileKey, err := age.DecryptHeader(hdr, identities...)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			return nil, ErrNoKey
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	// ExtractHeader gives the header as age writes it, which is how it was read: the
	// payload starts right after it, as age's own readers take it.
	payload := sealed[len(hdr):]
	if len(payload) < streamNonceSize {
		return nil, fmt.Errorf("%w: no payload nonce", ErrCorrupt)
	}
	key, err := hkdf.Key(sha256.New, fileKey, payload[:streamNonceSize], "payload", chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	payload = payload[streamNonceSize:]
	chunks, size, err := streamSizes(len(payload))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if maxPlain > 0 && size > maxPlain {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, size, maxPlain)
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	out := slices.Grow(dst, size)
	plain := out[len(dst) : len(dst)+size]
	var nonce [chacha20poly1305.NonceSize]byte
	for i := range chunks {
		enc := payload[i*encChunkSize : min((i+1)*encChunkSize, len(payload))]
		// The nonce is the chunk's number, big-endian in 11 bytes, then 1 for the
		// last chunk: a stream cut at a chunk's end does not authenticate.
		binary.BigEndian.PutUint64(nonce[3:11], uint64(i))
		if i == chunks-1 {
			nonce[11] = lastChunkFlag
		}
		off := i * chunkSize
		if _, err := aead.Open(plain[off:off], nonce[:], enc, nil); err != nil {
			return nil, fmt.Errorf("%w: chunk %d: %w", ErrCorrupt, i, err)
		}
	}
	return out[:len(dst)+size], nil
}

// age's STREAM: a 16-byte nonce, then the plaintext in chunks of 64 KiB, each sealed
// with its 16-byte tag; only the last chunk may be shorter, and it is empty only when the
// whole plaintext is.
const (
	streamNonceSize = 16
	chunkSize       = 64 << 10
	encChunkSize    = chunkSize + chacha20poly1305.Overhead
	lastChunkFlag   = 0x01
)

// streamSizes gives the number of chunks and the plaintext's size of a STREAM payload of
// n bytes (after the nonce), or an error when no plaintext seals to n bytes.
func streamSizes(n int) (chunks, size int, err error) {
	chunks = (n + encChunkSize - 1) / encChunkSize
	size = n - chunks*chacha20poly1305.Overhead
	want := (size + chunkSize - 1) / chunkSize
	if size == 0 {
		want = 1
	}
	if size < 0 || want != chunks {
		return 0, 0, fmt.Errorf("no STREAM payload is %d bytes long", n)
	}
	return chunks, size, nil
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
