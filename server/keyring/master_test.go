package keyring

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/aulacapture/aula/internal/seal"
)

func newMaster(t *testing.T) *Master {
	t.Helper()
	m, err := LoadOrCreateMaster(filepath.Join(t.TempDir(), "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadOrCreateMaster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	created, err := LoadOrCreateMaster(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode = %04o, want 0600", perm)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".master-key-*")); len(tmp) != 0 {
		t.Fatalf("temporary files left behind: %v", tmp)
	}
	for name, load := range map[string]func(string) (*Master, error){
		"LoadMaster": LoadMaster, "LoadOrCreateMaster": LoadOrCreateMaster,
	} {
		t.Run(name, func(t *testing.T) {
			loaded, err := load(path)
			if err != nil {
				t.Fatal(err)
			}
			if loaded.Recipient() != created.Recipient() {
				t.Fatal("loaded master differs from the created one")
			}
			recipient, wrapped, err := created.NewTenantKey()
			if err != nil {
				t.Fatal(err)
			}
			id, err := loaded.Unwrap(wrapped)
			if err != nil {
				t.Fatal(err)
			}
			if id.Recipient().String() != recipient {
				t.Fatal("unwrapped identity does not match the tenant recipient")
			}
		})
	}
}

func TestLoadOrCreateMasterConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	const n = 8
	recipients := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, err := LoadOrCreateMaster(path)
			if err != nil {
				t.Error(err)
				return
			}
			recipients[i] = m.Recipient()
		})
	}
	wg.Wait()
	for _, r := range recipients[1:] {
		if r != recipients[0] {
			t.Fatal("concurrent starts made different master keys")
		}
	}
}

func TestLoadMasterRefuses(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	key := id.String() + "\n"
	tests := []struct {
		name    string
		content string
		mode    fs.FileMode
		dir     bool
		want    error
	}{
		{"group readable", key, 0o640, false, ErrInsecureKeyFile},
		{"world readable", key, 0o604, false, ErrInsecureKeyFile},
		{"group writable", key, 0o620, false, ErrInsecureKeyFile},
		{"world executable", key, 0o601, false, ErrInsecureKeyFile},
		{"0644", key, 0o644, false, ErrInsecureKeyFile},
		{"directory", "", 0o700, true, ErrInsecureKeyFile},
		{"empty", "", 0o600, false, ErrBadKeyFile},
		{"comments only", "# nothing\n\n", 0o600, false, ErrBadKeyFile},
		{"two keys", key + key, 0o600, false, ErrBadKeyFile},
		{"post-quantum key", pq.String() + "\n", 0o600, false, ErrBadKeyFile},
		{"damaged key", key[:len(key)-3] + "\n", 0o600, false, ErrBadKeyFile},
		{"recipient instead of key", id.Recipient().String() + "\n", 0o600, false, ErrBadKeyFile},
		{"too long", strings.Repeat("#\n", maxKeyFile) + key, 0o600, false, ErrBadKeyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if tt.dir {
				if err := os.Mkdir(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil { // not subject to umask
					t.Fatal(err)
				}
			}
			for name, load := range map[string]func(string) (*Master, error){
				"LoadMaster": LoadMaster, "LoadOrCreateMaster": LoadOrCreateMaster,
			} {
				m, err := load(path)
				if !errors.Is(err, tt.want) {
					t.Fatalf("%s error = %v, want %v", name, err, tt.want)
				}
				if m != nil {
					t.Fatalf("%s returned a master with an error", name)
				}
				secret := strings.TrimPrefix(strings.TrimSpace(id.String()), "AGE-SECRET-KEY-1")
				if strings.Contains(err.Error(), secret[:20]) {
					t.Fatalf("%s error quotes the key: %v", name, err)
				}
				if tt.want == ErrInsecureKeyFile && !tt.dir && !strings.Contains(err.Error(), "chmod 600") {
					t.Fatalf("%s error does not say how to fix it: %v", name, err)
				}
			}
			if !tt.dir {
				got, _ := os.ReadFile(path)
				if string(got) != tt.content {
					t.Fatal("a refused key file was changed")
				}
			}
		})
	}
}

func TestLoadMasterMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadMaster(filepath.Join(dir, "master.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadMaster of a missing file = %v, want fs.ErrNotExist", err)
	}
	if _, err := LoadOrCreateMaster(filepath.Join(dir, "no", "such", "dir", "master.key")); err == nil {
		t.Fatal("LoadOrCreateMaster made a key in a missing directory")
	}
}

func TestUnwrap(t *testing.T) {
	m, other := newMaster(t), newMaster(t)
	_, wrapped, err := m.NewTenantKey()
	if err != nil {
		t.Fatal(err)
	}
	sealedToMaster := func(plain string) []byte {
		var buf bytes.Buffer
		if err := seal.Seal(&buf, []byte(plain), m.id.Recipient()); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	flipped := bytes.Clone(wrapped)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name    string
		master  *Master
		wrapped []byte
		want    error
	}{
		{"wrong master", other, wrapped, ErrWrongMaster},
		{"empty", m, nil, ErrBadWrappedKey},
		{"garbage", m, []byte("AGE-SECRET-KEY-1"), ErrBadWrappedKey},
		{"flipped byte", m, flipped, ErrBadWrappedKey},
		{"truncated", m, wrapped[:len(wrapped)-5], ErrBadWrappedKey},
		{"not an identity", m, sealedToMaster("hello"), ErrBadWrappedKey},
		{"oversized", m, sealedToMaster(strings.Repeat("A", maxWrappedPlain+1)), ErrBadWrappedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.master.Unwrap(tt.wrapped)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unwrap error = %v, want %v", err, tt.want)
			}
			if id != nil {
				t.Fatal("Unwrap returned an identity with an error")
			}
		})
	}
}

func TestNewTenantKeyDistinct(t *testing.T) {
	m := newMaster(t)
	r1, w1, err := m.NewTenantKey()
	if err != nil {
		t.Fatal(err)
	}
	r2, w2, err := m.NewTenantKey()
	if err != nil {
		t.Fatal(err)
	}
	if r1 == r2 || bytes.Equal(w1, w2) {
		t.Fatal("two tenants got the same key")
	}
	if _, err := seal.ParseRecipient(r1); err != nil {
		t.Fatalf("tenant recipient does not parse: %v", err)
	}
	if bytes.Contains(w1, []byte("AGE-SECRET-KEY")) {
		t.Fatal("wrapped key holds the identity in the clear")
	}
}

func TestRewrapForRotation(t *testing.T) {
	old, next := newMaster(t), newMaster(t)
	recipient, wrapped, err := old.NewTenantKey()
	if err != nil {
		t.Fatal(err)
	}
	id, err := old.Unwrap(wrapped)
	if err != nil {
		t.Fatal(err)
	}
	rewrapped, err := next.Wrap(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := next.Unwrap(rewrapped)
	if err != nil {
		t.Fatal(err)
	}
	if got.Recipient().String() != recipient {
		t.Fatal("re-wrapped key differs")
	}
	if _, err := old.Unwrap(rewrapped); !errors.Is(err, ErrWrongMaster) {
		t.Fatalf("old master unwraps the re-wrapped key: %v", err)
	}
}
