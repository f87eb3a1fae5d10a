package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Pending returns up to limit items (all when limit <= 0) that are sealed and waiting
// for upload, oldest first. Items an uploader has taken (MarkUploading) are left out
// until MarkFailed puts them back or Open finds them after a restart.
func (s *Spool) Pending(ctx context.Context, limit int) ([]Item, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	var items []Item
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPending).Cursor()
		n := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if n++; n%256 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			it, err := getItem(tx, binary.BigEndian.Uint64(k))
			if err != nil {
				return err
			}
			if it.State != StateSealed || s.isTaken(it.Key) {
				continue
			}
			items = append(items, *it)
			if limit > 0 && len(items) == limit {
				break
			}
		}
		return nil
	})
	return items, err
}

// Items returns every indexed item of recording id, whatever its state, in queue order.
func (s *Spool) Items(id string) ([]Item, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	var items []Item
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSegments).ForEach(func(k, v []byte) error {
			it, err := decodeItem(binary.BigEndian.Uint64(k), v)
			if err == nil && it.Recording == id {
				if it.State == StateSealed && s.isTaken(it.Key) {
					it.State = StateUploading
				}
				items = append(items, *it)
			}
			return err
		})
	})
	return items, err
}

// OpenSealed opens the sealed bytes of it for reading; the caller closes the file.
func (s *Spool) OpenSealed(it Item) (*os.File, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	var cur *Item
	if err := s.db.View(func(tx *bolt.Tx) (err error) {
		cur, err = getItem(tx, it.Key)
		return err
	}); err != nil {
		return nil, err
	}
	if cur.State == StateLost {
		return nil, fmt.Errorf("%s: %w: lost", cur.name(), ErrState)
	}
	f, err := os.Open(s.itemPath(cur))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", cur.name(), err)
	}
	return f, nil
}

// SealedManifest returns the recording's latest manifest, sealed: the agent cannot open
// it, the server or a recovery identity can.
func (s *Spool) SealedManifest(id string) ([]byte, error) {
	b, _, err := s.ManifestInfo(id)
	return b, err
}

// ManifestInfo returns the recording's latest sealed manifest and the tracks whose codec
// it names (at least those: the file is never older than the index says).
func (s *Spool) ManifestInfo(id string) (sealed []byte, ready []string, err error) {
	if err := s.enter(); err != nil {
		return nil, nil, err
	}
	defer s.closeMu.RUnlock()
	if err := s.db.View(func(tx *bolt.Tx) error {
		r, err := getRecording(tx, id)
		if r != nil {
			ready = r.ReadyTracks
		}
		return err
	}); err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.recDir(id), manifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("manifest of %s: %w", id, ErrNotFound)
	}
	return b, ready, err
}

// MarkUploading records that an uploader took it: it leaves Pending until MarkFailed
// or MarkAcked. Only a sealed item can be taken. Taking is kept in memory, not in the
// index: after a crash every taken item is simply sealed again, so writing it down
// would cost a commit (an fsync) per segment for nothing.
func (s *Spool) MarkUploading(it Item) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	var cur *Item
	if err := s.db.View(func(tx *bolt.Tx) (err error) {
		cur, err = getItem(tx, it.Key)
		return err
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur.State != StateSealed || s.taken[it.Key] {
		state := cur.State
		if s.taken[it.Key] {
			state = StateUploading
		}
		return fmt.Errorf("%s is %s: %w", cur.name(), state, ErrState)
	}
	s.taken[it.Key] = true
	return nil
}

// untake forgets that key was taken.
func (s *Spool) untake(key uint64) {
	s.mu.Lock()
	delete(s.taken, key)
	s.mu.Unlock()
}

// isTaken reports whether an uploader holds key.
func (s *Spool) isTaken(key uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken[key]
}

// attempt counts an upload attempt that MarkFailed or MarkAcked reports.
func (s *Spool) attempt(cur *Item) {
	cur.Attempts++
	cur.LastAttemptAt = s.opts.Now().UTC()
}

// MarkFailed puts it back in the queue with cause as its last error.
func (s *Spool) MarkFailed(it Item, cause error) error {
	taken := s.isTaken(it.Key)
	defer s.untake(it.Key)
	return s.change(it.Key, func(cur *Item) error {
		if cur.State != StateSealed && cur.State != StateUploading {
			return fmt.Errorf("%s is %s: %w", cur.name(), cur.State, ErrState)
		}
		cur.State = StateSealed
		if taken {
			s.attempt(cur)
		}
		if cause != nil {
			msg := cause.Error()
			if len(msg) > 300 {
				msg = msg[:300]
			}
			cur.LastError = msg
		}
		return nil
	})
}

// MarkAcked records the server's acknowledgement of it with digest, the Content-Digest
// the server computed over what it stored. A digest that differs from the spooled one
// gives ErrDigestMismatch and changes nothing. Once acked, the file is deleted, unless
// Options.Retain keeps it (then an Open after the retention deletes it, whatever that
// Open's own Options.Retain). Acking an
// acked item again with the same digest is not an error.
func (s *Spool) MarkAcked(it Item, digest string) error {
	taken := s.isTaken(it.Key)
	var acked *Item
	err := s.change(it.Key, func(cur *Item) error {
		switch {
		case cur.Digest != digest:
			return fmt.Errorf("%s: %w: spooled %s, acked %s", cur.name(), ErrDigestMismatch, cur.Digest, digest)
		case cur.State == StateAcked:
			return nil
		case cur.State == StateLost:
			return fmt.Errorf("%s is lost: %w", cur.name(), ErrState)
		}
		if taken {
			s.attempt(cur)
		}
		cur.State = StateAcked
		cur.AckedAt = s.opts.Now().UTC()
		if s.opts.Retain > 0 {
			cur.KeepUntil = cur.AckedAt.Add(s.opts.Retain)
		}
		acked = cur
		return nil
	})
	if err == nil {
		s.untake(it.Key)
	}
	if err != nil || acked == nil || s.opts.Retain > 0 {
		return err
	}
	// The index says acked before the file goes: a crash in between leaves a file Open
	// deletes, never an indexed segment without its file.
	if err := os.Remove(s.itemPath(acked)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove acked %s: %w", acked.name(), err)
	}
	s.addUsed(-acked.Size)
	return nil
}

// Discard drops a queued item that can never be uploaded (the init segment of a track
// that has no media segment and whose codec no manifest names, left by a crash), with
// reason as its last error; its file is deleted.
func (s *Spool) Discard(it Item, reason string) error {
	var gone *Item
	err := s.change(it.Key, func(cur *Item) error {
		if cur.State != StateSealed && cur.State != StateUploading {
			return fmt.Errorf("%s is %s: %w", cur.name(), cur.State, ErrState)
		}
		cur.State, cur.LastError = StateDiscarded, reason
		gone = cur
		return nil
	})
	if err != nil {
		return err
	}
	s.untake(it.Key)
	if err := os.Remove(s.itemPath(gone)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove discarded %s: %w", gone.name(), err)
	}
	s.addUsed(-gone.Size)
	return nil
}

// change applies f to the current index entry of key in one transaction and keeps the
// pending bucket in step with the state.
func (s *Spool) change(key uint64, f func(*Item) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	// Batch lets the acknowledgements of concurrent uploads share one commit; f may
	// run twice when another change in the batch fails, and is written for that.
	return s.db.Batch(func(tx *bolt.Tx) error {
		cur, err := getItem(tx, key)
		if err != nil {
			return err
		}
		if err := f(cur); err != nil {
			return err
		}
		if err := putItem(tx, cur); err != nil {
			return err
		}
		if cur.State == StateAcked || cur.State == StateLost || cur.State == StateDiscarded {
			return tx.Bucket(bucketPending).Delete(u64(key))
		}
		return nil
	})
}

// MarkCompleted records that the server accepted recording id's final manifest. A
// completed recording stays listed (Stats) until KeepCompleted (or Options.Retain at
// completion, when longer) has passed; then Open forgets it.
func (s *Spool) MarkCompleted(id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		r, err := getRecording(tx, id)
		switch {
		case err != nil:
			return err
		case r == nil:
			return fmt.Errorf("recording %s: %w", id, ErrNotFound)
		case r.Completed:
			return nil
		}
		r.Completed, r.CompletedAt = true, s.opts.Now().UTC()
		r.KeepUntil = r.CompletedAt.Add(max(KeepCompleted, s.opts.Retain))
		return putRecording(tx, id, r)
	})
}

// KeepCompleted is how long a completed recording stays listed in the spool.
const KeepCompleted = 24 * time.Hour

// forgetCompleted forgets the recordings completed longer ago than KeepCompleted and the
// retention.
func (s *Spool) forgetCompleted() {
	now := s.opts.Now()
	var old []string
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecordings).ForEach(func(k, _ []byte) error {
			r, err := getRecording(tx, string(k))
			if err == nil && r != nil && r.Completed && now.After(r.KeepUntil) {
				old = append(old, string(k))
			}
			return nil
		})
	})
	for _, id := range old {
		if err := s.Forget(id); err != nil {
			s.log.Warn("spool: forget completed recording", "recording", id, "err", err)
		}
	}
}

// RecordingStats sums up one recording's items.
type RecordingStats struct {
	// ID of the recording.
	ID string
	// CreatedAt is when the spool first saw the recording.
	CreatedAt time.Time
	// Finished reports that Finish was called; Live that a writer in this process is
	// still recording it; Completed that the server accepted its final manifest.
	Finished, Live, Completed bool
	// Duration is the longest track's spooled duration in seconds.
	Duration float64
	// Pending counts sealed and uploading items, PendingBytes their sealed bytes;
	// Uploading is the part of them an uploader holds.
	Pending, Uploading int
	PendingBytes       int64
	// Acked counts acknowledged items, AckedBytes their sealed bytes.
	Acked      int
	AckedBytes int64
	// Lost counts items whose files went missing; Discarded those Discard dropped.
	Lost, Discarded int
}

// Stats returns per-recording counts, oldest recording first (ids are UUIDv7).
func (s *Spool) Stats() ([]RecordingStats, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	byID := map[string]*RecordingStats{}
	dur := map[string]float64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketRecordings).ForEach(func(k, _ []byte) error {
			r, err := getRecording(tx, string(k))
			if err != nil {
				return err
			}
			byID[string(k)] = &RecordingStats{ID: string(k), CreatedAt: r.CreatedAt, Finished: r.Finished, Completed: r.Completed}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketSegments).ForEach(func(k, v []byte) error {
			it, err := decodeItem(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			st := byID[it.Recording]
			if st == nil {
				st = &RecordingStats{ID: it.Recording}
				byID[it.Recording] = st
			}
			dur[it.Recording+"/"+it.Track] += it.Duration
			st.Duration = max(st.Duration, dur[it.Recording+"/"+it.Track])
			switch it.State {
			case StateSealed, StateUploading:
				st.Pending++
				st.PendingBytes += it.Size
				if it.State == StateUploading || s.isTaken(it.Key) {
					st.Uploading++
				}
			case StateAcked:
				st.Acked++
				st.AckedBytes += it.Size
			case StateLost:
				st.Lost++
			case StateDiscarded:
				st.Discarded++
			}
			return nil
		})
	})
	out := make([]RecordingStats, 0, len(byID))
	s.mu.Lock()
	for _, st := range byID {
		st.Live = s.live[st.ID]
	}
	s.mu.Unlock()
	for _, st := range byID {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// Forget removes a recording whose items are all acked or lost: its index entries and
// its directory. A recording with items still to upload gives ErrPending.
func (s *Spool) Forget(id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		segs := tx.Bucket(bucketSegments)
		var keys [][]byte
		err := segs.ForEach(func(k, v []byte) error {
			it, err := decodeItem(binary.BigEndian.Uint64(k), v)
			if err != nil || it.Recording != id {
				return err
			}
			if it.State == StateSealed || it.State == StateUploading {
				return fmt.Errorf("recording %s: %w", id, ErrPending)
			}
			keys = append(keys, k, []byte(it.name()))
			return nil
		})
		if err != nil {
			return err
		}
		for i := 0; i < len(keys); i += 2 {
			if err := segs.Delete(keys[i]); err != nil {
				return err
			}
			if err := tx.Bucket(bucketNames).Delete(keys[i+1]); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketRecordings).Delete([]byte(id))
	})
	if err != nil {
		return err
	}
	dir := s.recDir(id)
	size := dirSize(dir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	s.addUsed(-size)
	s.dirs.Range(func(k, _ any) bool {
		if p := k.(string); p == dir || filepath.Dir(p) == dir {
			s.dirs.Delete(k)
		}
		return true
	})
	return nil
}

// Setting returns the value of a setting, nil when unset.
func (s *Spool) Setting(key string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v = append([]byte(nil), tx.Bucket(bucketSettings).Get([]byte(key))...)
		return nil
	})
	if len(v) == 0 {
		v = nil
	}
	return v, err
}

// SetSetting stores a small setting; a nil value deletes it. Settings are not sealed:
// seal secrets before storing them.
func (s *Spool) SetSetting(key string, value []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		if value == nil {
			return tx.Bucket(bucketSettings).Delete([]byte(key))
		}
		return tx.Bucket(bucketSettings).Put([]byte(key), value)
	})
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
