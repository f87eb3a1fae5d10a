package keyring_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/aulacapture/aula/internal/seal"
	"github.com/aulacapture/aula/server/keyring"
)

// mapStore keeps wrapped keys in memory; the server's metadata store does this for real.
type mapStore map[string][]byte

func (s mapStore) WrappedKey(_ context.Context, tenantID string) ([]byte, error) {
	w, ok := s[tenantID]
	if !ok {
		return nil, fmt.Errorf("tenant %q: %w", tenantID, os.ErrNotExist)
	}
	return w, nil
}

func Example() {
	dir, err := os.MkdirTemp("", "keyring")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	master, err := keyring.LoadOrCreateMaster(filepath.Join(dir, "master.key"))
	if err != nil {
		log.Fatal(err)
	}
	recipient, wrapped, err := master.NewTenantKey()
	if err != nil {
		log.Fatal(err)
	}
	store := mapStore{"tenant-1": wrapped}

	// An agent seals a segment to the recipient…
	r, err := seal.ParseRecipient(recipient)
	if err != nil {
		log.Fatal(err)
	}
	var sealed bytes.Buffer
	if err := seal.Seal(&sealed, []byte("segment"), r); err != nil {
		log.Fatal(err)
	}

	// …and the server opens it with the tenant's identity from the ring.
	ring := keyring.NewRing(master, store, 0)
	id, err := ring.Identity(context.Background(), "tenant-1")
	if err != nil {
		log.Fatal(err)
	}
	plain, err := seal.Open(sealed.Bytes(), 1<<20, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plain)
	// Output: segment
}
