package audit

import (
	"crypto/hmac"
	"crypto/sha256"

	"github.com/aulacapture/aula/server/store"
)

// KeyPurpose is the purpose the chain's key is derived from the master key for
// (keyring.Master.DeriveKey).
const KeyPurpose = "audit-chain"

// MAC returns the chain function for key: HMAC-SHA256(key, prev ‖ e.Canonical()).
func MAC(key []byte) store.AuditMAC {
	key = append([]byte(nil), key...)
	return func(prev []byte, e store.AuditEvent) []byte {
		h := hmac.New(sha256.New, key)
		h.Write(prev)
		h.Write(e.Canonical())
		return h.Sum(nil)
	}
}
