package keyring

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// deriveSalt separates these derivations from any other use of the master key.
const deriveSalt = "aula keyring derive v1"

// DeriveKey returns a 32-byte key for purpose, derived from the master key with
// HKDF-SHA256: the same master and purpose give the same key on every server and after
// restarts, and different purposes give unrelated keys. Purposes are fixed strings such
// as "audit-chain"; the key never leaves the process.
func (m *Master) DeriveKey(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(m.id.String()), []byte(deriveSalt), purpose, 32)
	if err != nil {
		// Only an output length beyond 255 hash blocks fails, and 32 bytes is one block.
		panic("keyring: derive key: " + err.Error())
	}
	return k
}
