package spool

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	dbName       = "spool.db"
	segmentsDir  = "segments"
	manifestName = "manifest.age"
	finishedName = "finished"
	initName     = "init.age"
	sealedExt    = ".age"
	tmpMark      = ".tmp-"
)

// Buckets of the index. segments maps a queue number (8 bytes, big endian, in sealing
// order) to an Item; names maps "REC/TRACK/SEQ" to the queue number; pending holds the
// queue numbers not yet acked, so the uploader never scans acked history.
var (
	bucketRecordings = []byte("recordings")
	bucketSegments   = []byte("segments")
	bucketNames      = []byte("names")
	bucketPending    = []byte("pending")
	bucketSettings   = []byte("settings")
	allBuckets       = [][]byte{bucketRecordings, bucketSegments, bucketNames, bucketPending, bucketSettings}
)

// State is where a spooled segment is on its way to the server.
type State string

// Segment states.
const (
	// StateSealed: on disk, waiting for upload.
	StateSealed State = "sealed"
	// StateUploading: an uploader took it (MarkUploading) and has not reported back.
	// Items and Stats report it; the index never holds it (older indexes may, and Open
	// puts such items back to sealed).
	StateUploading State = "uploading"
	// StateAcked: the server acknowledged it with a matching digest.
	StateAcked State = "acked"
	// StateLost: indexed, but Open found its file missing.
	StateLost State = "lost"
	// StateDiscarded: dropped by the uploader as unusable (Discard), file deleted.
	StateDiscarded State = "discarded"
)

// Item is one spooled segment as the uploader sees it. Nothing in it is secret: the media
// and the manifest's titles stay sealed.
type Item struct {
	// Key is the item's place in the queue; items are sealed in increasing Key order.
	Key uint64 `json:"-"`
	// Recording, Track and Seq name the segment; Seq 0 is the track's init segment.
	Recording string `json:"rec"`
	Track     string `json:"track"`
	Seq       int    `json:"seq"`
	// State of the segment.
	State State `json:"state"`
	// Size and Digest ("sha-256=:BASE64:") are those of the sealed bytes, the bytes the
	// server stores.
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
	// Start and Duration (seconds) come from the manifest given with the segment; zero
	// for init segments and re-indexed ones.
	Start    float64 `json:"start,omitzero"`
	Duration float64 `json:"dur,omitzero"`
	// Attempts counts MarkUploading calls; LastError is the last MarkFailed error.
	Attempts  int    `json:"attempts,omitzero"`
	LastError string `json:"err,omitzero"`
	// SealedAt, LastAttemptAt and AckedAt are when the segment was indexed, last taken
	// for upload and acknowledged.
	SealedAt      time.Time `json:"sealed_at,omitzero"`
	LastAttemptAt time.Time `json:"attempt_at,omitzero"`
	AckedAt       time.Time `json:"acked_at,omitzero"`
	// KeepUntil is when an acked item's retained file may go (Options.Retain at the
	// acknowledgement); zero means at once.
	KeepUntil time.Time `json:"keep_until,omitzero"`
	// Reindexed reports an item Open rebuilt from its file alone.
	Reindexed bool `json:"reindexed,omitzero"`
}

// recordingRecord is the index entry of a recording; its manifest is a sealed file.
type recordingRecord struct {
	CreatedAt  time.Time `json:"created_at"`
	Finished   bool      `json:"finished,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// ManifestSegments counts the segments in the manifest last written, so a manifest
	// that arrives late from another track's goroutine never replaces a newer one.
	ManifestSegments int `json:"manifest_segments,omitzero"`
	// ReadyTracks are the tracks whose codec the sealed manifest names: the server
	// takes a track's init segment only once it knows the codec.
	ReadyTracks []string `json:"ready_tracks,omitempty"`
	// Completed is set once the server accepted the final manifest (MarkCompleted).
	Completed   bool      `json:"completed,omitzero"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
	// KeepUntil is when a completed recording is forgotten.
	KeepUntil time.Time `json:"keep_until,omitzero"`
}

func nameKey(rec, track string, seq int) string {
	return fmt.Sprintf("%s/%s/%06d", rec, track, seq)
}

func (it *Item) name() string { return nameKey(it.Recording, it.Track, it.Seq) }

func fileName(seq int) string {
	if seq == 0 {
		return initName
	}
	return fmt.Sprintf("%06d%s", seq, sealedExt)
}

// parseFileName is fileName's inverse; ok is false for any other name.
func parseFileName(name string) (seq int, ok bool) {
	if name == initName {
		return 0, true
	}
	digits, found := strings.CutSuffix(name, sealedExt)
	if !found || len(digits) < 6 || len(digits) > 9 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || fileName(n) != name {
		return 0, false
	}
	return n, true
}

func isTemp(name string) bool { return strings.HasPrefix(name, ".") && strings.Contains(name, tmpMark) }

func (s *Spool) recDir(rec string) string { return filepath.Join(s.dir, segmentsDir, rec) }

func (s *Spool) itemPath(it *Item) string {
	return filepath.Join(s.recDir(it.Recording), it.Track, fileName(it.Seq))
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func getItem(tx *bolt.Tx, key uint64) (*Item, error) {
	v := tx.Bucket(bucketSegments).Get(u64(key))
	if v == nil {
		return nil, fmt.Errorf("item %d: %w", key, ErrNotFound)
	}
	return decodeItem(key, v)
}

func decodeItem(key uint64, v []byte) (*Item, error) {
	var it Item
	if err := json.Unmarshal(v, &it); err != nil {
		return nil, fmt.Errorf("index entry %d: %w", key, err)
	}
	it.Key = key
	return &it, nil
}

func putItem(tx *bolt.Tx, it *Item) error {
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketSegments).Put(u64(it.Key), v)
}

// addItem gives it the next queue number and indexes it as pending.
func addItem(tx *bolt.Tx, it *Item) error {
	name := []byte(it.name())
	if tx.Bucket(bucketNames).Get(name) != nil {
		return fmt.Errorf("%s: %w", name, ErrExists)
	}
	key, err := tx.Bucket(bucketSegments).NextSequence()
	if err != nil {
		return err
	}
	it.Key = key
	if err := putItem(tx, it); err != nil {
		return err
	}
	if err := tx.Bucket(bucketNames).Put(name, u64(key)); err != nil {
		return err
	}
	if it.State == StateSealed || it.State == StateUploading {
		return tx.Bucket(bucketPending).Put(u64(key), nil)
	}
	return nil
}

func getRecording(tx *bolt.Tx, id string) (*recordingRecord, error) {
	v := tx.Bucket(bucketRecordings).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var r recordingRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("recording %s: %w", id, err)
	}
	return &r, nil
}

func putRecording(tx *bolt.Tx, id string, r *recordingRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketRecordings).Put([]byte(id), v)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return b
}

func jsonStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
