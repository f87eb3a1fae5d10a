// Package seal is the segment seal format that agent and server share: a segment is sealed
// (encrypted) to its tenant's age X25519 recipient before it touches the agent's disk, and
// the server stores the sealed bytes exactly as they arrived and opens them only in memory.
//
// A sealed segment is a binary (not armored) age v1 file, so any age tool can open it with
// the right identity, and one SHA-256 digest of the sealed bytes holds from capture to storage.
//
// # Caveats
//
// Sealing gives confidentiality, not origin: anyone who knows a tenant's recipient (it is
// public) can seal bytes to it. Who uploaded a segment is proven by the agent's credential,
// and what it contains by validating it after Open.
package seal
