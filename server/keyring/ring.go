package keyring

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"filippo.io/age"
)

// DefaultRingSize is how many tenant identities a Ring holds when NewRing is given no size.
const DefaultRingSize = 1024

// DefaultMaxAge is how long a Ring trusts an identity it holds before it reads the
// wrapped key again: a tenant shredded through another server is unreadable here within
// this time, with no restart.
const DefaultMaxAge = time.Minute

// Store gives a tenant's wrapped key, as Master.NewTenantKey made it. The server's metadata
// store implements it; it returns its own not-found error for a tenant without a key.
type Store interface {
	WrappedKey(ctx context.Context, tenantID string) ([]byte, error)
}

// Ring caches unwrapped tenant identities, the least recently used dropped first, so hot
// tenants are not unwrapped on every request. It is safe for concurrent use.
type Ring struct {
	master *Master
	store  Store
	size   int
	// MaxAge is how long an identity is served from the cache (DefaultMaxAge when 0).
	MaxAge time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *entry, front is most recent
	lru     list.List
	// forgets counts Forget calls, so a load that began before one does not put a
	// shredded key back.
	forgets uint64
}

type entry struct {
	tenant string
	id     *age.X25519Identity
	at     time.Time // when it was loaded
}

func (r *Ring) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Ring) maxAge() time.Duration {
	if r.MaxAge > 0 {
		return r.MaxAge
	}
	return DefaultMaxAge
}

// NewRing returns a Ring that loads wrapped keys from store, unwraps them with master and
// holds at most size identities (DefaultRingSize if size <= 0).
func NewRing(master *Master, store Store, size int) *Ring {
	if size <= 0 {
		size = DefaultRingSize
	}
	return &Ring{master: master, store: store, size: size, entries: make(map[string]*list.Element)}
}

// Identity returns the tenant's identity, from the cache or else loaded from the store and
// unwrapped. Errors of the store come back wrapped, so errors.Is finds its not-found error.
func (r *Ring) Identity(ctx context.Context, tenantID string) (*age.X25519Identity, error) {
	r.mu.Lock()
	now := r.now()
	if e, ok := r.entries[tenantID]; ok {
		if en := e.Value.(*entry); now.Sub(en.at) < r.maxAge() {
			r.lru.MoveToFront(e)
			r.mu.Unlock()
			return en.id, nil
		}
		// Too old: read the wrapped key again, so a shred elsewhere takes effect here.
		r.lru.Remove(e)
		delete(r.entries, tenantID)
	}
	forgets := r.forgets
	r.mu.Unlock()

	// Load without the lock: a slow store must not stall every other tenant.
	wrapped, err := r.store.WrappedKey(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("load key of tenant %q: %w", tenantID, err)
	}
	id, err := r.master.Unwrap(wrapped)
	if err != nil {
		return nil, fmt.Errorf("unwrap key of tenant %q: %w", tenantID, err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forgets != forgets {
		// A Forget ran meanwhile, maybe for this tenant; serve this one request (it was
		// asked before the shred) but do not cache what may be a shredded key.
		return id, nil
	}
	if e, ok := r.entries[tenantID]; ok { // another caller loaded it first
		r.lru.MoveToFront(e)
		return e.Value.(*entry).id, nil
	}
	r.entries[tenantID] = r.lru.PushFront(&entry{tenant: tenantID, id: id, at: now})
	for r.lru.Len() > r.size {
		oldest := r.lru.Back()
		r.lru.Remove(oldest)
		delete(r.entries, oldest.Value.(*entry).tenant)
	}
	return id, nil
}

// Forget drops the tenant's identity from the cache. To crypto-shred a tenant, delete its
// wrapped key from the store first, then call Forget on this server's Ring; the other
// servers' Rings stop serving it within MaxAge.
func (r *Ring) Forget(tenantID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgets++
	if e, ok := r.entries[tenantID]; ok {
		r.lru.Remove(e)
		delete(r.entries, tenantID)
	}
}

// Len returns how many identities the Ring holds.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}
