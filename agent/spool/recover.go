package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/aulacapture/aula/internal/manifest"
)

// Recovered reports what Open found and repaired.
type Recovered struct {
	// Rebuilt reports that the index failed its check and was rebuilt from the files;
	// the broken index was moved to BrokenPath, and BrokenReason says what failed.
	Rebuilt      bool
	BrokenPath   string
	BrokenReason string
	// TempRemoved counts temporary files of interrupted writes that were removed.
	TempRemoved int
	// Reindexed are sealed files that were missing from the index and are now queued.
	Reindexed []Item
	// Lost are index entries whose files are missing; they are marked StateLost.
	Lost []Item
	// Requeued counts items left uploading by the previous run, now sealed again.
	Requeued int
	// AckedRemoved counts files of acked items removed (their retention had passed, or
	// a crash came between the acknowledgement and the deletion).
	AckedRemoved int
	// Unknown are files under the spool that Open does not recognise; they are left.
	Unknown []string
	// Compacted reports that a bloated index was compacted from SizeBefore to SizeAfter
	// bytes.
	Compacted             bool
	SizeBefore, SizeAfter int64
}

// compactMinSize and compactRatio decide when the index is bloated: larger than
// compactMinSize and more than compactRatio times its live pages.
var (
	compactMinSize int64 = 4 << 20
	compactRatio   int64 = 4
)

var sealedMagic = []byte("age-encryption.org/v1\n")

func boltOptions() *bolt.Options {
	return &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType}
}

// openIndex opens spool.db, checks it, and rebuilds an empty one when the check fails.
func (s *Spool) openIndex() error {
	path := filepath.Join(s.dir, dbName)
	db, reason, err := openChecked(path)
	if err != nil {
		return err
	}
	if reason != "" {
		broken := fmt.Sprintf("%s.broken-%s", path, s.opts.Now().UTC().Format("20060102T150405.000000000"))
		if err := os.Rename(path, broken); err != nil {
			return fmt.Errorf("move broken spool index aside: %w", err)
		}
		s.rep.Rebuilt, s.rep.BrokenPath, s.rep.BrokenReason = true, broken, reason
		s.log.Error("spool: index failed its check; rebuilding it from the files", "reason", reason, "moved_to", broken)
		if db, err = bolt.Open(path, 0o600, boltOptions()); err != nil {
			return fmt.Errorf("create spool index: %w", err)
		}
	}
	s.db = db
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// openChecked opens the index and checks it; a non-empty reason means it is broken (and
// closed). err is kept for failures that a rebuild would not cure, such as another
// process holding the lock.
func openChecked(path string) (db *bolt.DB, reason string, err error) {
	err = guard(func() error {
		var oerr error
		db, oerr = bolt.Open(path, 0o600, boltOptions())
		return oerr
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, "", fmt.Errorf("open spool index %s: locked by another process: %w", path, err)
	case errors.Is(err, os.ErrPermission):
		return nil, "", fmt.Errorf("open spool index %s: %w", path, err)
	case err != nil:
		return nil, "open: " + err.Error(), nil
	}
	if err := guard(func() error { return checkIndex(db, path) }); err != nil {
		_ = guard(db.Close)
		return nil, err.Error(), nil
	}
	return db, "", nil
}

// checkIndex walks every entry (with faults recovered by the caller's guard) and then
// runs bbolt's own check.
func checkIndex(db *bolt.DB, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return db.View(func(tx *bolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("index is %d bytes, its pages need %d: truncated", fi.Size(), tx.Size())
		}
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				switch {
				case bytes.Equal(name, bucketSegments):
					if len(k) != 8 {
						return fmt.Errorf("segments key %x", k)
					}
					_, err := decodeItem(0, v)
					return err
				case bytes.Equal(name, bucketRecordings):
					var r recordingRecord
					return jsonStrict(v, &r)
				case bytes.Equal(name, bucketNames):
					if len(v) != 8 {
						return fmt.Errorf("names value %x", v)
					}
				case bytes.Equal(name, bucketPending):
					if len(k) != 8 {
						return fmt.Errorf("pending key %x", k)
					}
				}
				return nil
			})
		}); err != nil {
			return err
		}
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// guard runs f with memory faults (a scribbled page pointing outside the map) turned
// into panics, and panics into errors.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("index walk panicked: %v", r)
		}
	}()
	return f()
}

// found is a sealed file on disk.
type found struct {
	rec, track string
	seq        int
	path       string
	size       int64
}

// reconcile makes the index and the files agree; see Recovered.
func (s *Spool) reconcile() error {
	files, used, err := s.scan()
	if err != nil {
		return err
	}
	now := s.opts.Now()
	var remove []string
	err = s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSegments).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			it, err := decodeItem(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			name := it.name()
			f, present := files[name]
			delete(files, name)
			changed := false
			switch it.State {
			case StateSealed, StateUploading:
				if !present {
					it.State = StateLost
					s.rep.Lost = append(s.rep.Lost, *it)
					changed = true
				} else if it.State == StateUploading {
					it.State = StateSealed
					s.rep.Requeued++
					changed = true
				}
			case StateDiscarded:
				if present {
					remove = append(remove, f.path)
					used -= f.size
				}
			case StateAcked:
				if present && !now.Before(it.KeepUntil) {
					remove = append(remove, f.path)
					used -= f.size
					s.rep.AckedRemoved++
				}
			}
			if changed {
				if err := tx.Bucket(bucketSegments).Put(k, mustJSON(it)); err != nil {
					return err
				}
				if it.State == StateLost {
					if err := tx.Bucket(bucketPending).Delete(k); err != nil {
						return err
					}
				}
			}
		}
		// What is left on disk is not indexed: a crash came between rename and commit,
		// or the index was rebuilt.
		rest := make([]found, 0, len(files))
		for _, f := range files {
			rest = append(rest, f)
		}
		sort.Slice(rest, func(i, j int) bool {
			a, b := rest[i], rest[j]
			if a.rec != b.rec {
				return a.rec < b.rec
			}
			if a.seq != b.seq {
				return a.seq < b.seq
			}
			return a.track < b.track
		})
		for _, f := range rest {
			data, err := os.ReadFile(f.path)
			if err != nil {
				return fmt.Errorf("re-index %s: %w", f.path, err)
			}
			if !bytes.HasPrefix(data, sealedMagic) {
				s.rep.Unknown = append(s.rep.Unknown, f.path)
				continue
			}
			it := &Item{Recording: f.rec, Track: f.track, Seq: f.seq, State: StateSealed,
				Size: int64(len(data)), Digest: manifest.Digest(data), SealedAt: now.UTC(), Reindexed: true}
			if err := addItem(tx, it); err != nil {
				return err
			}
			s.rep.Reindexed = append(s.rep.Reindexed, *it)
		}
		return s.reconcileRecordings(tx, now)
	})
	if err != nil {
		return fmt.Errorf("reconcile spool: %w", err)
	}
	for _, p := range remove {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("spool: remove acked file", "path", p, "err", err)
		}
	}
	s.used = used
	return nil
}

// reconcileRecordings gives every recording directory an index entry and carries the
// finished marker over into it.
func (s *Spool) reconcileRecordings(tx *bolt.Tx, now time.Time) error {
	entries, err := os.ReadDir(filepath.Join(s.dir, segmentsDir))
	if err != nil {
		return err
	}
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || !manifest.ValidID(id) {
			continue
		}
		r, err := getRecording(tx, id)
		if err != nil {
			return err
		}
		_, ferr := os.Stat(filepath.Join(s.recDir(id), finishedName))
		finished := ferr == nil
		if r != nil && r.Finished == finished {
			continue
		}
		if r == nil {
			r = &recordingRecord{CreatedAt: now.UTC()}
		}
		r.Finished = r.Finished || finished
		if err := putRecording(tx, id, r); err != nil {
			return err
		}
	}
	return nil
}

// scan lists the sealed files under segments/ by name key, removes temporary files
// anywhere in the spool, and sums the bytes of the files it keeps.
func (s *Spool) scan() (map[string]found, int64, error) {
	files := map[string]found{}
	var used int64
	err := filepath.WalkDir(s.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			return nil
		}
		if isTemp(name) {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			s.rep.TempRemoved++
			return nil
		}
		rel, err := filepath.Rel(filepath.Join(s.dir, segmentsDir), path)
		if err != nil || !filepath.IsLocal(rel) {
			return nil // spool.db and its broken copies live beside segments/
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		parts := splitPath(rel)
		switch {
		case len(parts) == 2 && manifest.ValidID(parts[0]) && (parts[1] == manifestName || parts[1] == finishedName):
			used += fi.Size()
		case len(parts) == 3 && manifest.ValidID(parts[0]) && manifest.ValidTrackID(parts[1]):
			seq, ok := parseFileName(parts[2])
			if !ok {
				s.rep.Unknown = append(s.rep.Unknown, path)
				return nil
			}
			used += fi.Size()
			files[nameKey(parts[0], parts[1], seq)] = found{rec: parts[0], track: parts[1], seq: seq, path: path, size: fi.Size()}
		default:
			s.rep.Unknown = append(s.rep.Unknown, path)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("scan spool %s: %w", s.dir, err)
	}
	return files, used, nil
}

func splitPath(rel string) []string {
	var parts []string
	for rel != "." && rel != "" {
		dir, file := filepath.Split(rel)
		parts = append([]string{file}, parts...)
		rel = filepath.Clean(dir)
		if dir == "" {
			break
		}
	}
	return parts
}

// maybeCompact rewrites a bloated index with bbolt's Compact into a temporary file and
// renames it over the old one.
func (s *Spool) maybeCompact() error {
	path := filepath.Join(s.dir, dbName)
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	var live int64
	if err := s.db.View(func(tx *bolt.Tx) error {
		st := s.db.Stats()
		live = tx.Size() - int64(st.FreePageN+st.PendingPageN)*int64(s.db.Info().PageSize)
		return nil
	}); err != nil {
		return err
	}
	if fi.Size() < compactMinSize || fi.Size() < compactRatio*live {
		return nil
	}
	tmp := filepath.Join(s.dir, "."+dbName+tmpMark+"compact")
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, boltOptions())
	if err != nil {
		return err
	}
	if err := bolt.Compact(dst, s.db, 4<<20); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := s.db.Close(); err != nil {
		return err
	}
	s.db = nil
	reopen := func() error {
		db, err := bolt.Open(path, 0o600, boltOptions())
		s.db = db
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return errors.Join(err, reopen())
	}
	if err := errors.Join(syncDir(s.dir), reopen()); err != nil {
		return err
	}
	after, _ := os.Stat(path)
	s.rep.Compacted, s.rep.SizeBefore = true, fi.Size()
	if after != nil {
		s.rep.SizeAfter = after.Size()
	}
	return nil
}

func (s *Spool) logReport() {
	r := &s.rep
	if r.TempRemoved > 0 || len(r.Reindexed) > 0 || r.Requeued > 0 || r.AckedRemoved > 0 || r.Compacted {
		s.log.Info("spool: recovered", "temp_removed", r.TempRemoved, "reindexed", len(r.Reindexed),
			"requeued", r.Requeued, "acked_removed", r.AckedRemoved, "compacted", r.Compacted,
			"size_before", r.SizeBefore, "size_after", r.SizeAfter)
	}
	for _, it := range r.Lost {
		s.log.Error("spool: indexed segment has no file; marked lost", "recording", it.Recording,
			"track", it.Track, "seq", it.Seq, "digest", it.Digest)
	}
	for _, p := range r.Unknown {
		s.log.Warn("spool: unknown file left alone", "path", p)
	}
}
