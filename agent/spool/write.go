package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
)

// Recording writes one recording into the spool. It has the method set of the recorder's
// Store (agent/recording), which this package does not import because that package
// links the cgo encoder. Its methods are safe for concurrent use by the tracks'
// goroutines.
type Recording struct {
	s  *Spool
	id string
	mu sync.Mutex // orders manifest writes
}

// Recording returns the writer of recording id (a lowercase UUIDv7), creating its index
// entry if it is new. A recording that was not finished may be reopened (after a
// restart); a finished one gives ErrFinished.
func (s *Spool) Recording(id string) (*Recording, error) {
	if !manifest.ValidID(id) {
		return nil, fmt.Errorf("%w: recording id %q is not a lowercase UUIDv7", ErrInvalid, id)
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	if err := s.ensureDir(s.recDir(id)); err != nil {
		return nil, err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := getRecording(tx, id)
		switch {
		case err != nil:
			return err
		case r == nil:
			return putRecording(tx, id, &recordingRecord{CreatedAt: s.opts.Now().UTC()})
		case r.Finished:
			return fmt.Errorf("recording %s: %w", id, ErrFinished)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.live[id] = true
	s.mu.Unlock()
	return &Recording{s: s, id: id}, nil
}

// Live reports whether recording id has a writer in this process that has not finished.
// Only one process opens a spool, so a recording that is neither live nor finished was
// interrupted (the agent crashed or was killed while recording it).
func (s *Spool) Live(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[id]
}

// Abandon ends this process's writing of recording id without finishing it, as after an
// error that leaves no final manifest: it stops being Live, and its latest sealed
// manifest stands as its last.
func (r *Recording) Abandon() {
	r.s.mu.Lock()
	delete(r.s.live, r.id)
	r.s.mu.Unlock()
}

// ID is the recording's id.
func (r *Recording) ID() string { return r.id }

// Init seals and spools a track's init segment.
func (r *Recording) Init(track string, data []byte) error {
	_, err := r.s.put(r.id, track, 0, data, nil)
	return err
}

// Segment seals and spools media segment seq (from 1) of track, then replaces the
// recording's sealed manifest with m (which may be nil). Start and duration are taken
// from m's entry for the segment. The segment is indexed before the manifest is written,
// so an error from the manifest write leaves the segment spooled.
func (r *Recording) Segment(track string, seq int, data []byte, m *manifest.Manifest) error {
	if seq < 1 {
		return fmt.Errorf("%w: segment seq %d, want 1 or more", ErrInvalid, seq)
	}
	if m != nil && m.ID != r.id {
		return fmt.Errorf("%w: manifest of %q given to recording %s", ErrInvalid, m.ID, r.id)
	}
	if _, err := r.s.put(r.id, track, seq, data, segmentOf(m, track, seq)); err != nil {
		return err
	}
	if m == nil {
		return nil
	}
	return r.writeManifest(m, false)
}

// Manifest replaces the recording's sealed manifest with m (the recorder's
// ManifestWriter), unless a manifest with more segments is already there.
func (r *Recording) Manifest(m *manifest.Manifest) error {
	if m == nil || m.ID != r.id {
		return fmt.Errorf("%w: manifest of another recording given to %s", ErrInvalid, r.id)
	}
	return r.writeManifest(m, false)
}

// Finish writes the final sealed manifest and marks the recording finished; later writes
// give ErrFinished.
func (r *Recording) Finish(m *manifest.Manifest) error {
	if m == nil || m.ID != r.id {
		return fmt.Errorf("%w: finish %s needs its manifest", ErrInvalid, r.id)
	}
	return r.writeManifest(m, true)
}

func segmentOf(m *manifest.Manifest, track string, seq int) *manifest.Segment {
	if m == nil {
		return nil
	}
	for _, t := range m.Tracks {
		if t.ID != track {
			continue
		}
		for i := range t.Segments {
			if t.Segments[i].Seq == seq {
				return &t.Segments[i]
			}
		}
	}
	return nil
}

// writeManifest seals m to manifest.age unless a manifest with more segments is already
// there, and on finish writes the finished marker and flags the index entry.
func (r *Recording) writeManifest(m *manifest.Manifest, finish bool) error {
	s := r.s
	if err := s.enter(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	r.mu.Lock()
	defer r.mu.Unlock()

	segs := 0
	for _, t := range m.Tracks {
		segs += len(t.Segments)
	}
	var rec *recordingRecord
	if err := s.db.View(func(tx *bolt.Tx) (err error) {
		rec, err = getRecording(tx, r.id)
		return err
	}); err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("recording %s: %w", r.id, ErrNotFound)
	}
	if rec.Finished {
		return fmt.Errorf("recording %s: %w", r.id, ErrFinished)
	}
	ready := readyTracks(m)
	if !finish && (segs < rec.ManifestSegments || segs == rec.ManifestSegments && len(ready) <= len(rec.ReadyTracks)) {
		return nil
	}
	// The server compares digests of what it stores, the sealed bytes: give it those,
	// and name only segments that are spooled.
	sm, err := s.sealedView(m, r.id)
	if err != nil {
		return err
	}
	var plain bytes.Buffer
	if err := sm.Encode(&plain); err != nil {
		return fmt.Errorf("encode manifest %s: %w", r.id, err)
	}
	if len(s.opts.Recipients) == 0 {
		return ErrNoRecipient
	}
	var sealed bytes.Buffer
	err = seal.Seal(&sealed, plain.Bytes(), s.opts.Recipients...)
	clear(plain.Bytes()) // titles are plaintext: do not leave them lying in freed memory longer than needed
	if err != nil {
		return err
	}
	path := filepath.Join(s.recDir(r.id), manifestName)
	var old int64
	if fi, err := os.Stat(path); err == nil {
		old = fi.Size()
	}
	if err := writeAtomic(path, sealed.Bytes()); err != nil {
		return err
	}
	s.addUsed(int64(sealed.Len()) - old)
	if finish {
		if err := writeAtomic(filepath.Join(s.recDir(r.id), finishedName), nil); err != nil {
			return err
		}
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		rec, err := getRecording(tx, r.id)
		if err != nil || rec == nil {
			return errors.Join(err, ErrNotFound)
		}
		rec.ManifestSegments = max(rec.ManifestSegments, segs)
		if len(ready) > len(rec.ReadyTracks) {
			rec.ReadyTracks = ready
		}
		if finish {
			rec.Finished = true
			rec.FinishedAt = s.opts.Now().UTC()
		}
		return putRecording(tx, r.id, rec)
	})
	if err == nil && finish {
		r.Abandon()
	}
	return err
}

// readyTracks lists the tracks of m whose codec is known.
func readyTracks(m *manifest.Manifest) []string {
	var ids []string
	for _, t := range m.Tracks {
		if t.Codec != "" {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// sealedView copies m with each init and segment digest and size replaced by those of
// the sealed file in the index; segments not (yet) in the index are left out.
func (s *Spool) sealedView(m *manifest.Manifest, id string) (*manifest.Manifest, error) {
	out := *m
	out.Tracks = make([]manifest.Track, len(m.Tracks))
	err := s.db.View(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketNames)
		lookup := func(track string, seq int) (*Item, error) {
			k := names.Get([]byte(nameKey(id, track, seq)))
			if k == nil {
				return nil, nil
			}
			return getItem(tx, binary.BigEndian.Uint64(k))
		}
		for i, t := range m.Tracks {
			t.InitDigest = ""
			if it, err := lookup(t.ID, 0); err != nil {
				return err
			} else if it != nil {
				t.InitDigest = it.Digest
			}
			segs := make([]manifest.Segment, 0, len(t.Segments))
			for _, sg := range t.Segments {
				it, err := lookup(t.ID, sg.Seq)
				if err != nil {
					return err
				}
				if it == nil {
					continue
				}
				sg.Digest, sg.Size = it.Digest, it.Size
				segs = append(segs, sg)
			}
			t.Segments = segs
			out.Tracks[i] = t
		}
		return nil
	})
	return &out, err
}

// put seals data, writes it under its final name and indexes it. Nothing is indexed
// unless the file is whole and durable, and nothing is written when a check fails.
func (s *Spool) put(rec, track string, seq int, data []byte, ms *manifest.Segment) (*Item, error) {
	if !manifest.ValidTrackID(track) {
		return nil, fmt.Errorf("%w: track id %q", ErrInvalid, track)
	}
	if len(data) > MaxSegmentSize {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, len(data), MaxSegmentSize)
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()

	it := &Item{Recording: rec, Track: track, Seq: seq, State: StateSealed}
	name := it.name()
	var known, finished bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		known = tx.Bucket(bucketNames).Get([]byte(name)) != nil
		r, err := getRecording(tx, rec)
		if err != nil {
			return err
		}
		finished = r != nil && r.Finished
		return nil
	}); err != nil {
		return nil, err
	}
	switch {
	case known:
		return nil, fmt.Errorf("%s: %w", name, ErrExists)
	case finished:
		return nil, fmt.Errorf("recording %s: %w", rec, ErrFinished)
	}

	if len(s.opts.Recipients) == 0 {
		return nil, ErrNoRecipient
	}
	// age adds a header (about 200 bytes a recipient) and 16 bytes a 64 KiB chunk.
	var buf bytes.Buffer
	buf.Grow(len(data) + len(data)/(64<<10)*16 + 256*len(s.opts.Recipients) + 256)
	if err := seal.Seal(&buf, data, s.opts.Recipients...); err != nil {
		return nil, err
	}
	sealed := buf.Bytes()
	it.Size = int64(len(sealed))
	it.Digest = manifest.Digest(sealed)
	it.SealedAt = s.opts.Now().UTC()
	if ms != nil {
		it.Start, it.Duration = ms.Start, ms.Duration
	}

	if err := s.reserve(name, it.Size); err != nil {
		return nil, err
	}
	kept := false
	defer func() { s.release(name, it.Size, kept) }()
	path := s.itemPath(it)
	if err := s.ensureDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := writeAtomic(path, sealed); err != nil {
		return nil, err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return addItem(tx, it) }); err != nil {
		// The file is whole but not indexed; removing it keeps "indexed" and "on disk"
		// equal. Had the process died here instead, Open would re-index it.
		_ = os.Remove(path)
		return nil, fmt.Errorf("index %s: %w", name, err)
	}
	kept = true
	return it, nil
}
