package keyring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/aulacapture/aula/internal/seal"
)

var errNoTenant = errors.New("no such tenant")

// fakeStore is a Store built from a map; onLoad, if set, runs inside every WrappedKey call.
type fakeStore struct {
	mu     sync.Mutex
	keys   map[string][]byte
	loads  atomic.Int64
	onLoad func(tenantID string)
}

func (s *fakeStore) WrappedKey(_ context.Context, tenantID string) ([]byte, error) {
	s.loads.Add(1)
	s.mu.Lock()
	w, ok := s.keys[tenantID]
	s.mu.Unlock()
	if s.onLoad != nil {
		s.onLoad(tenantID)
	}
	if !ok {
		return nil, errNoTenant
	}
	return w, nil
}

func (s *fakeStore) delete(tenantID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, tenantID)
}

// newTenants makes n tenants "t0"… with keys wrapped by m and returns their recipients.
func newTenants(t *testing.T, m *Master, n int) (*fakeStore, map[string]string) {
	t.Helper()
	s := &fakeStore{keys: map[string][]byte{}}
	recipients := map[string]string{}
	for i := range n {
		r, w, err := m.NewTenantKey()
		if err != nil {
			t.Fatal(err)
		}
		tenant := fmt.Sprintf("t%d", i)
		s.keys[tenant], recipients[tenant] = w, r
	}
	return s, recipients
}

func TestRingCaches(t *testing.T) {
	m := newMaster(t)
	store, recipients := newTenants(t, m, 3)
	ring := NewRing(m, store, 2)
	ctx := t.Context()
	tests := []struct {
		tenant    string
		wantLoads int64
		wantLen   int
	}{
		{"t0", 1, 1},
		{"t0", 1, 1}, // cached
		{"t1", 2, 2},
		{"t0", 2, 2}, // cached, now most recent
		{"t2", 3, 2}, // evicts t1
		{"t0", 3, 2}, // still cached
		{"t1", 4, 2}, // loaded again, evicts t2
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", i, tt.tenant), func(t *testing.T) {
			id, err := ring.Identity(ctx, tt.tenant)
			if err != nil {
				t.Fatal(err)
			}
			if id.Recipient().String() != recipients[tt.tenant] {
				t.Fatal("wrong identity for tenant")
			}
			if got := store.loads.Load(); got != tt.wantLoads {
				t.Fatalf("store loads = %d, want %d", got, tt.wantLoads)
			}
			if got := ring.Len(); got != tt.wantLen {
				t.Fatalf("Len = %d, want %d", got, tt.wantLen)
			}
		})
	}
}

func TestRingErrors(t *testing.T) {
	m, other := newMaster(t), newMaster(t)
	store, _ := newTenants(t, m, 1)
	_, foreign, err := other.NewTenantKey()
	if err != nil {
		t.Fatal(err)
	}
	store.keys["foreign"] = foreign
	store.keys["damaged"] = []byte("not sealed")
	ring := NewRing(m, store, 0)
	tests := []struct {
		tenant string
		want   error
	}{
		{"missing", errNoTenant},
		{"foreign", ErrWrongMaster},
		{"damaged", ErrBadWrappedKey},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			if _, err := ring.Identity(t.Context(), tt.tenant); !errors.Is(err, tt.want) {
				t.Fatalf("Identity error = %v, want %v", err, tt.want)
			}
			if ring.Len() != 0 {
				t.Fatal("a failed load was cached")
			}
		})
	}
}

// TestShred proves crypto-shredding: once a tenant's wrapped key is deleted and forgotten,
// nothing the server holds opens the tenant's sealed segments.
func TestShred(t *testing.T) {
	m := newMaster(t)
	store, recipients := newTenants(t, m, 2)
	ring := NewRing(m, store, 0)
	ctx := t.Context()

	segment := []byte("moof mdat of tenant t0")
	recipient, err := seal.ParseRecipient(recipients["t0"])
	if err != nil {
		t.Fatal(err)
	}
	var sealed bytes.Buffer
	if err := seal.Seal(&sealed, segment, recipient); err != nil {
		t.Fatal(err)
	}
	id, err := ring.Identity(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := seal.Open(sealed.Bytes(), 0, id); err != nil || !bytes.Equal(got, segment) {
		t.Fatalf("before shredding: Open = %q, %v", got, err)
	}
	if _, err := ring.Identity(ctx, "t1"); err != nil {
		t.Fatal(err)
	}

	store.delete("t0")
	ring.Forget("t0")

	if _, err := ring.Identity(ctx, "t0"); !errors.Is(err, errNoTenant) {
		t.Fatalf("after shredding: Identity error = %v, want the store's not-found", err)
	}
	// Every key the server still holds: the master and the other tenant's identity.
	t1, err := ring.Identity(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	for name, ids := range map[string][]age.Identity{"master": {m.id}, "other tenant": {t1}, "both": {m.id, t1}} {
		if _, err := seal.Open(sealed.Bytes(), 0, ids...); !errors.Is(err, seal.ErrNoKey) {
			t.Fatalf("after shredding, %s: Open error = %v, want seal.ErrNoKey", name, err)
		}
	}
}

// TestForgetDuringLoad checks that a load racing a Forget does not put the key back.
func TestForgetDuringLoad(t *testing.T) {
	m := newMaster(t)
	store, _ := newTenants(t, m, 1)
	ring := NewRing(m, store, 0)
	store.onLoad = func(tenant string) {
		// The shred lands after the store was read, before the result is cached.
		store.delete(tenant)
		ring.Forget(tenant)
	}
	if _, err := ring.Identity(t.Context(), "t0"); err != nil {
		t.Fatal(err)
	}
	if ring.Len() != 0 {
		t.Fatal("a key forgotten during its load was cached")
	}
	store.onLoad = nil
	if _, err := ring.Identity(t.Context(), "t0"); !errors.Is(err, errNoTenant) {
		t.Fatalf("Identity after shred = %v, want not-found", err)
	}
}

func TestRingConcurrent(t *testing.T) {
	m := newMaster(t)
	store, recipients := newTenants(t, m, 5)
	ring := NewRing(m, store, 3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tenant := fmt.Sprintf("t%d", (g+i)%5)
				if i%50 == 0 {
					ring.Forget(tenant)
					continue
				}
				id, err := ring.Identity(t.Context(), tenant)
				if err != nil {
					t.Error(err)
					return
				}
				if id.Recipient().String() != recipients[tenant] {
					t.Error("wrong identity under concurrency")
					return
				}
			}
		})
	}
	wg.Wait()
	if ring.Len() > 3 {
		t.Fatalf("Len = %d beyond the bound 3", ring.Len())
	}
}

// TestShredElsewhere: a tenant shredded through another server (its wrapped key deleted,
// no Forget here) is unreadable here once MaxAge has passed, and cached until then.
func TestShredElsewhere(t *testing.T) {
	m := newMaster(t)
	store, _ := newTenants(t, m, 1)
	now := time.Unix(1_800_000_000, 0)
	ring := NewRing(m, store, 0)
	ring.MaxAge, ring.Now = time.Minute, func() time.Time { return now }
	ctx := t.Context()
	if _, err := ring.Identity(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
	store.delete("t0")
	now = now.Add(59 * time.Second)
	if _, err := ring.Identity(ctx, "t0"); err != nil {
		t.Errorf("within MaxAge: %v, want the cached identity", err)
	}
	if n := store.loads.Load(); n != 1 {
		t.Errorf("%d loads within MaxAge, want 1", n)
	}
	now = now.Add(2 * time.Second)
	if _, err := ring.Identity(ctx, "t0"); !errors.Is(err, errNoTenant) {
		t.Errorf("after MaxAge: %v, want the store's not-found", err)
	}
	if ring.Len() != 0 {
		t.Errorf("the ring still holds %d identities", ring.Len())
	}
}
