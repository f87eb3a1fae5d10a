package keyring

import (
	"bytes"
	"path/filepath"
	"testing"
)

func TestDeriveKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	m, err := LoadOrCreateMaster(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadMaster(path)
	if err != nil {
		t.Fatal(err)
	}
	a := m.DeriveKey("audit-chain")
	if len(a) != 32 {
		t.Fatalf("key of %d bytes", len(a))
	}
	if !bytes.Equal(a, again.DeriveKey("audit-chain")) {
		t.Error("the same master and purpose gave different keys after reloading")
	}
	if bytes.Equal(a, m.DeriveKey("other")) {
		t.Error("two purposes gave the same key")
	}
	if bytes.Equal(a, newMaster(t).DeriveKey("audit-chain")) {
		t.Error("two masters gave the same key")
	}
}
