package spool

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"
)

// MaxSegmentSize caps one segment's plaintext: segments are sealed in memory.
const MaxSegmentSize = 64 << 20

// DefaultMinFreeBytes is the free space a spool leaves on its file system when
// Options.MinFreeBytes is zero.
const DefaultMinFreeBytes = 256 << 20

// Options configures a Spool; a zero field means its default. A spool opened without
// Recipients can be listed and drained but refuses writes with ErrNoRecipient.
type Options struct {
	// Recipients are the age recipients every file is sealed to: the tenant's pinned
	// recipient and optionally an admin recovery recipient. Writing needs at least one.
	Recipients []age.Recipient
	// QuotaBytes caps the bytes of sealed files in the spool; zero means no cap.
	QuotaBytes int64
	// MinFreeBytes is the free space a write must leave on the file system; zero means
	// DefaultMinFreeBytes and a negative value turns the check off.
	MinFreeBytes int64
	// Retain keeps acknowledged segments' files this long after the acknowledgement;
	// zero deletes them at once.
	Retain time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives recovery reports and errors; nil discards them.
	Log *slog.Logger
}

// Spool is an agent's queue of sealed segments in one directory. Its methods are safe
// for concurrent use; only one process may open a directory at a time.
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger
	db   *bolt.DB
	rep  Recovered

	// closeMu is held shared by every operation and exclusively by Close, so Close waits
	// for operations in flight.
	closeMu sync.RWMutex
	closed  bool

	mu       sync.Mutex
	used     int64           // bytes of files under segments/, reservations included
	inflight map[string]bool // segments being written, by name key
	live     map[string]bool // recordings with a writer in this process, not finished
	taken    map[uint64]bool // items an uploader holds (MarkUploading), by key
	dirs     sync.Map        // directories known to exist and synced
}

// Open opens (creating if needed) the spool in dir and reconciles its files with its
// index; what it found and repaired is in Recovered.
func Open(dir string, opts *Options) (*Spool, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = DefaultMinFreeBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.QuotaBytes < 0 || o.Retain < 0 {
		return nil, fmt.Errorf("%w: negative QuotaBytes or Retain", ErrInvalid)
	}
	s := &Spool{
		dir:      dir,
		opts:     o,
		log:      o.Log.With("spool", dir),
		inflight: map[string]bool{},
		live:     map[string]bool{},
		taken:    map[uint64]bool{},
	}
	if err := os.MkdirAll(filepath.Join(dir, segmentsDir), 0o700); err != nil {
		return nil, fmt.Errorf("create spool %s: %w", dir, err)
	}
	if err := s.openIndex(); err != nil {
		return nil, err
	}
	if err := s.reconcile(); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	if err := s.maybeCompact(); err != nil {
		// Compaction only saves space; the spool works without it.
		s.log.Warn("spool: compaction failed", "err", err)
	}
	if s.db == nil {
		return nil, fmt.Errorf("reopen spool index: %w", ErrClosed)
	}
	s.logReport()
	s.forgetCompleted()
	return s, nil
}

// Recovered reports what Open found and repaired.
func (s *Spool) Recovered() Recovered { return s.rep }

// Close waits for operations in flight and closes the index. Files stay for the next Open.
func (s *Spool) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close spool index: %w", err)
	}
	return nil
}

// enter starts an operation; the caller must call s.closeMu.RUnlock when it returns nil.
func (s *Spool) enter() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

// reserve claims n bytes for the file named key, failing before anything is written
// when the quota or the free-space floor would be crossed.
func (s *Spool) reserve(key string, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[key] {
		return fmt.Errorf("%s: %w", key, ErrExists)
	}
	if q := s.opts.QuotaBytes; q > 0 && s.used+n > q {
		return fmt.Errorf("%w: %d bytes in use + %d > quota %d", ErrQuota, s.used, n, q)
	}
	if min := s.opts.MinFreeBytes; min > 0 {
		if free, ok := freeSpace(s.dir); ok && free-n < min {
			return fmt.Errorf("%w: %d bytes free, segment %d, floor %d", ErrLowDisk, free, n, min)
		}
	}
	s.used += n
	s.inflight[key] = true
	return nil
}

// release ends a reservation; when the write failed (kept false) its bytes come back.
func (s *Spool) release(key string, n int64, kept bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, key)
	if !kept {
		s.used -= n
	}
}

// addUsed adjusts the bytes in use for files written or removed outside reservations.
func (s *Spool) addUsed(n int64) {
	s.mu.Lock()
	s.used += n
	s.mu.Unlock()
}

// Used is the number of bytes of sealed files in the spool, the figure QuotaBytes caps.
func (s *Spool) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// writeAtomic writes data to path so that path is either absent or whole: temporary
// name in the same directory, fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tmpMark+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a directory's entries (a rename, a new file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// ensureDir creates dir (under segments/) and syncs its parents, once per process.
func (s *Spool) ensureDir(dir string) error {
	if _, ok := s.dirs.Load(dir); ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	root := filepath.Join(s.dir, segmentsDir)
	for d := filepath.Dir(dir); len(d) >= len(root); d = filepath.Dir(d) {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	s.dirs.Store(dir, true)
	return nil
}
