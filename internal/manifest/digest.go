package manifest

import (
	"crypto/sha256"
	"encoding/base64"
)

// Digest gives the RFC 9530 Content-Digest form of b's SHA-256: "sha-256=:BASE64:".
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}
