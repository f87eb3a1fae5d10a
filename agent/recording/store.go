package recording

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/aulacapture/aula/internal/hls"
	"github.com/aulacapture/aula/internal/manifest"
)

// Store keeps what a recording produces. Calls come from several tracks' goroutines;
// a Store orders them itself.
type Store interface {
	// Init stores a track's init segment.
	Init(track string, data []byte) error
	// Segment stores one media segment; m is the manifest including it.
	Segment(track string, seq int, data []byte, m *manifest.Manifest) error
	// Finish records the final manifest.
	Finish(m *manifest.Manifest) error
}

// ManifestWriter is a Store that also takes the manifest between segments: the recorder
// gives it the manifest as soon as a track's init segment is stored and its codec known.
type ManifestWriter interface {
	Manifest(m *manifest.Manifest) error
}

// DirStore writes a recording as a directory that any HLS player opens: index.m3u8,
// manifest.json, and per track init.mp4, NNNNNN.m4s and index.m3u8. Each file is written
// under a temporary name, synced and renamed, so a crash at any moment leaves every file
// that exists whole, and the playlists name only segments that are complete.
type DirStore struct {
	// Dir is the recording's directory.
	Dir string
	mu  sync.Mutex
}

var _ Store = (*DirStore)(nil)

// NewDirStore prepares dir (created if missing) for a new recording. It refuses a
// directory that already holds a recording, so nothing is ever overwritten.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, diskError(err))
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return nil, fmt.Errorf("%s: %w", dir, ErrExists)
	}
	probe := filepath.Join(dir, ".write-test")
	if err := os.WriteFile(probe, []byte("ok"), 0o600); err != nil {
		return nil, fmt.Errorf("write in %s: %w", dir, diskError(err))
	}
	_ = os.Remove(probe)
	return &DirStore{Dir: dir}, nil
}

// Init implements Store.
func (s *DirStore) Init(track string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(s.Dir, track), 0o750); err != nil {
		return diskError(err)
	}
	return writeAtomic(filepath.Join(s.Dir, track, "init.mp4"), data)
}

// Segment implements Store: the segment first, then its track's playlist, then the
// master playlist and manifest, so each names only what is on disk.
func (s *DirStore) Segment(track string, seq int, data []byte, m *manifest.Manifest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeAtomic(filepath.Join(s.Dir, track, hls.SegmentName(seq)), data); err != nil {
		return err
	}
	return s.writeIndex(m, false, track)
}

// Finish implements Store.
func (s *DirStore) Finish(m *manifest.Manifest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeIndex(m, true, "")
}

// writeIndex writes the media playlist of track (of every track when track is ""), the
// master playlist and the manifest.
func (s *DirStore) writeIndex(m *manifest.Manifest, final bool, track string) error {
	urls := hls.FileURLs()
	for _, t := range m.Tracks {
		if len(t.Segments) == 0 || (track != "" && t.ID != track) {
			continue
		}
		var b bytes.Buffer
		// Target: the 2 s grid plus room for a late keyframe, so it never changes.
		if err := hls.WriteMedia(&b, t, final, 3*time.Second, urls); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(s.Dir, t.ID, "index.m3u8"), b.Bytes()); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	playable := *m
	playable.Tracks = nil
	for _, t := range m.Tracks {
		if len(t.Segments) > 0 {
			playable.Tracks = append(playable.Tracks, t)
		}
	}
	if len(playable.Tracks) > 0 {
		if err := hls.WriteMaster(&b, &playable, urls); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(s.Dir, "index.m3u8"), b.Bytes()); err != nil {
			return err
		}
	}
	b.Reset()
	if err := m.Encode(&b); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.Dir, "manifest.json"), b.Bytes())
}

// writeAtomic writes data to path so that path is either absent, its old content, or
// data: temporary file, fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, diskError(err))
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, diskError(err))
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, diskError(err))
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, diskError(err))
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, diskError(err))
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, diskError(err))
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, diskError(err))
	}
	return nil
}

// diskError adds our sentinel to the errors people can act on.
func diskError(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %w", ErrNotWritable, err)
	}
	return err
}
