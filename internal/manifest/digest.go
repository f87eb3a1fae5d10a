package manifest

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Digest gives the RFC 9530 Content-Digest form of b's SHA-256: "sha-256=:BASE64:".
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// ErrDigest reports a Content-Digest header without a usable sha-256 member.
var ErrDigest = errors.New("bad Content-Digest")

// ParseContentDigest reads the sha-256 member of an RFC 9530 Content-Digest header (an
// RFC 8941 dictionary such as `sha-256=:BASE64:, sha-512=:…:`) and returns the 32-byte
// digest. Other algorithms are skipped; a header without sha-256 is an error, since
// sha-256 is the one Aula checks.
func ParseContentDigest(header string) ([]byte, error) {
	if len(header) > 1024 {
		return nil, fmt.Errorf("%w: longer than 1024 bytes", ErrDigest)
	}
	for _, member := range strings.Split(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok {
			return nil, fmt.Errorf("%w: member %q has no value", ErrDigest, member)
		}
		if key != "sha-256" {
			continue
		}
		// Parameters (";…") may follow the byte sequence.
		value, _, _ = strings.Cut(value, ";")
		if len(value) < 2 || value[0] != ':' || value[len(value)-1] != ':' {
			return nil, fmt.Errorf("%w: sha-256 value must be base64 between colons", ErrDigest)
		}
		sum, err := base64.StdEncoding.DecodeString(value[1 : len(value)-1])
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("%w: sha-256 value is not 32 bytes of base64", ErrDigest)
		}
		return sum, nil
	}
	return nil, fmt.Errorf("%w: no sha-256 member", ErrDigest)
}
