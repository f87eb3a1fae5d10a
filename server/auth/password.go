package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Params are Argon2id cost parameters. They are stored with each hash, so raising them
// later still verifies old hashes, and a sign-in re-hashes with the new ones.
type Params struct {
	MemoryKiB uint32 // m
	Time      uint32 // t, passes over memory
	Threads   uint8  // p
}

// DefaultParams are the minimum SECURITY §3 allows (OWASP's first Argon2id choice):
// m = 19 MiB, t = 2, p = 1.
var DefaultParams = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// Validate refuses parameters below SECURITY §3 (m ≥ 19 MiB, t ≥ 2, p = 1) or so large
// that one sign-in could exhaust the server.
func (p Params) Validate() error {
	switch {
	case p.MemoryKiB < 19*1024 || p.MemoryKiB > 1<<21:
		return fmt.Errorf("argon2 memory %d KiB: want 19456 to 2097152", p.MemoryKiB)
	case p.Time < 2 || p.Time > 20:
		return fmt.Errorf("argon2 time %d: want 2 to 20", p.Time)
	case p.Threads != 1:
		return fmt.Errorf("argon2 threads %d: want 1", p.Threads)
	}
	return nil
}

const (
	argonKeyLen = 32
	saltLen     = 16
)

// ErrPassword reports a password that does not match its hash.
var ErrPassword = errors.New("wrong password")

// NormalizePassword is the form of a password that is hashed and measured: Unicode NFKC,
// so the same password typed on different keyboards or systems matches. Nothing is
// trimmed or truncated.
func NormalizePassword(password string) string { return norm.NFKC.String(password) }

// HashPassword returns an encoded Argon2id hash with DefaultParams.
func HashPassword(password string) (string, error) {
	return HashPasswordWith(DefaultParams, password)
}

// HashPasswordWith returns an encoded Argon2id hash of the NFKC form of password:
// $argon2id$v=19$m=19456,t=2,p=1$SALT$KEY (PHC string format, base64 without padding).
func HashPasswordWith(p Params, password string) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("make salt: %w", err)
	}
	key := argon2.IDKey([]byte(NormalizePassword(password)), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Hash is a parsed encoded Argon2id hash.
type Hash struct {
	Params
	Salt, Key []byte
}

// ParseHash parses an encoded Argon2id hash. Parameters beyond what the server would
// ever compute are refused, so a planted hash cannot make a sign-in exhaust memory.
func ParseHash(encoded string) (Hash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Hash{}, fmt.Errorf("%w: unknown hash format", ErrPassword)
	}
	var version int
	var h Hash
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version || parts[2] != fmt.Sprintf("v=%d", version) {
		return Hash{}, fmt.Errorf("%w: unknown argon2 version", ErrPassword)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.MemoryKiB, &h.Time, &h.Threads); err != nil ||
		h.MemoryKiB == 0 || h.MemoryKiB > 1<<22 || h.Time == 0 || h.Time > 100 || h.Threads == 0 {
		return Hash{}, fmt.Errorf("%w: bad argon2 parameters", ErrPassword)
	}
	var err1, err2 error
	h.Salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
	h.Key, err2 = base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(h.Salt) < 8 || len(h.Key) < 16 || len(h.Key) > 64 {
		return Hash{}, fmt.Errorf("%w: bad hash encoding", ErrPassword)
	}
	return h, nil
}

// CheckPassword verifies password against an encoded hash in constant time.
func CheckPassword(encoded, password string) error {
	h, err := ParseHash(encoded)
	if err != nil {
		return err
	}
	got := argon2.IDKey([]byte(NormalizePassword(password)), h.Salt, h.Time, h.MemoryKiB, h.Threads, uint32(len(h.Key)))
	if subtle.ConstantTimeCompare(got, h.Key) != 1 {
		return ErrPassword
	}
	return nil
}

// NeedsRehash reports whether an encoded hash was made with weaker parameters than p
// (or a salt or key shorter than today's), so a sign-in should hash the password again.
func NeedsRehash(encoded string, p Params) bool {
	h, err := ParseHash(encoded)
	if err != nil {
		return true
	}
	return h.MemoryKiB < p.MemoryKiB || h.Time < p.Time || h.Threads != p.Threads ||
		len(h.Salt) < saltLen || len(h.Key) < argonKeyLen
}

// NewPassword makes a random one-time password of 24 characters (about 143 bits).
func NewPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
