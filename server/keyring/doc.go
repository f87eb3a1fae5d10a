// Package keyring keeps the server's encryption keys at rest: a master key in a key file,
// and one age X25519 identity per tenant, stored only wrapped (sealed) to the master.
// A bounded Ring caches unwrapped tenant identities so hot tenants are not unwrapped on
// every request, and Forget drops one for crypto-shredding.
//
// # Caveats
//
// Losing the master key file loses every tenant's data; back it up apart from the
// database and blobs, since a backup that holds both gives the data away.
//
// Crypto-shredding a tenant means deleting its wrapped key from the store (and its
// backups) and calling Forget on every server's Ring; sealed segments stay unreadable
// wherever copies of them live. Go cannot wipe key material from memory, so a shredded
// identity may linger in freed memory until it is reused.
package keyring
