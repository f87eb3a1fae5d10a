package keyring

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/aulacapture/aula/internal/seal"
)

// maxKeyFile caps what LoadMaster reads: a key file is one identity plus comments.
const maxKeyFile = 4 << 10

// maxWrappedPlain caps an unwrapped tenant key: one identity string (74 bytes) with room.
const maxWrappedPlain = 256

// Master is the server's master key: an age X25519 identity that wraps every tenant's
// identity. It is safe for concurrent use.
type Master struct {
	id *age.X25519Identity
}

// LoadOrCreateMaster loads the master key from the file at path, or makes a new one there
// when no file exists. The new file is written atomically with mode 0600 and never
// replaces a file that appeared meanwhile (another instance's key wins and is loaded).
// The directory must exist.
//
// Make a new master only for a fresh installation: a server whose store already holds
// wrapped keys should use LoadMaster, so a lost or misplaced key file is an error rather
// than a new key that opens nothing.
func LoadOrCreateMaster(path string) (*Master, error) {
	m, err := LoadMaster(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return m, err
	}
	m, err = createMaster(path)
	if errors.Is(err, fs.ErrExist) {
		return LoadMaster(path)
	}
	return m, err
}

// LoadMaster loads the master key from the file at path. It refuses a file that group or
// others may access (ErrInsecureKeyFile) and a file that does not hold exactly one age
// X25519 identity (ErrBadKeyFile); lines starting with "#" are comments.
func LoadMaster(path string) (*Master, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open master key: %w", err)
	}
	defer f.Close()
	// Check the file that was opened, not the name, so a swap between check and read
	// cannot slip an unchecked file in.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat master key %q: %w", path, err)
	}
	if err := checkPrivate(path, info); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read master key %q: %w", path, err)
	}
	id, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("master key %q: %w", path, err)
	}
	return &Master{id: id}, nil
}

// parseKeyFile reads one X25519 identity among comment and blank lines. Its errors never
// quote the file, which may hold key material.
func parseKeyFile(data []byte) (*age.X25519Identity, error) {
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadKeyFile, maxKeyFile)
	}
	var id *age.X25519Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if id != nil {
			return nil, fmt.Errorf("%w: line %d: more than one key", ErrBadKeyFile, n)
		}
		if !strings.HasPrefix(line, "AGE-SECRET-KEY-1") {
			return nil, fmt.Errorf("%w: line %d: not an age X25519 identity (AGE-SECRET-KEY-1…)", ErrBadKeyFile, n)
		}
		var err error
		if id, err = age.ParseX25519Identity(line); err != nil {
			return nil, fmt.Errorf("%w: line %d: damaged age X25519 identity", ErrBadKeyFile, n)
		}
	}
	if id == nil {
		return nil, fmt.Errorf("%w: no key (an empty file is not replaced: restore the key from backup)", ErrBadKeyFile)
	}
	return id, nil
}

// createMaster writes a new key to a temporary file in path's directory, syncs it and
// links it to path, which fails with fs.ErrExist if path appeared meanwhile.
func createMaster(path string) (*Master, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".master-key-*.tmp") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("create master key in %q: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	content := fmt.Sprintf("# Aula server master key: it unwraps every tenant's key.\n"+
		"# Keep it mode 0600 and back it up apart from the database and the blobs.\n"+
		"# public key: %s\n%s\n", id.Recipient(), id)
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write master key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("sync master key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("close master key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("install master key %q: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sync master key directory %q: %w", dir, err)
	}
	return &Master{id: id}, nil
}

// Recipient returns the master's public key ("age1…"). Store it beside the wrapped keys and
// compare at start, to tell a swapped key file from damaged data.
func (m *Master) Recipient() string {
	return m.id.Recipient().String()
}

// NewTenantKey generates an age X25519 identity for a new tenant and returns the
// recipient that its agents seal to and the identity wrapped by the master, for the store.
func (m *Master) NewTenantKey() (recipient string, wrapped []byte, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", nil, fmt.Errorf("generate tenant key: %w", err)
	}
	wrapped, err = m.Wrap(id)
	if err != nil {
		return "", nil, err
	}
	return id.Recipient().String(), wrapped, nil
}

// Wrap seals a tenant identity to the master. With Unwrap of the old master it re-wraps
// every tenant key when the master key rotates.
func (m *Master) Wrap(id *age.X25519Identity) ([]byte, error) {
	var buf bytes.Buffer
	if err := seal.Seal(&buf, []byte(id.String()), m.id.Recipient()); err != nil {
		return nil, fmt.Errorf("wrap tenant key: %w", err)
	}
	return buf.Bytes(), nil
}

// Unwrap opens a wrapped tenant key. It gives ErrWrongMaster for a key that another master
// wrapped and ErrBadWrappedKey for damaged input.
func (m *Master) Unwrap(wrapped []byte) (*age.X25519Identity, error) {
	plain, err := seal.Open(wrapped, maxWrappedPlain, m.id)
	switch {
	case errors.Is(err, seal.ErrNoKey):
		return nil, ErrWrongMaster
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrBadWrappedKey, err)
	}
	id, err := age.ParseX25519Identity(string(plain))
	if err != nil {
		return nil, fmt.Errorf("%w: not an age X25519 identity", ErrBadWrappedKey)
	}
	return id, nil
}
