package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"filippo.io/age"

	"github.com/aulacapture/aula/internal/hls"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
)

// ErrNoManifest reports a folder without manifest.json: not a recording, or one that
// has not finished its first segment yet.
var ErrNoManifest = errors.New("no manifest.json (yet)")

// Progress is told how many bytes of how many are uploaded.
type Progress func(done, total int64)

// Dir uploads the recording folder dir (as aula-agent record writes it): it announces
// the recording, seals and uploads every init and media segment the server does not hold
// yet, with up to parallel uploads at once, and completes the recording when its
// manifest says capturing has finished. A second run resumes where the first stopped.
func Dir(ctx context.Context, c *Client, dir string, parallel int, progress Progress) (*manifest.Manifest, error) {
	f, err := os.Open(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a recording folder: %w", dir, ErrNoManifest)
	}
	if err != nil {
		return nil, err
	}
	local, err := manifest.Decode(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	recipient, err := c.Recipient(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch the tenant's key: %w", err)
	}
	held, err := c.Manifest(ctx, local.ID)
	var se *StatusError
	switch {
	case errors.As(err, &se) && se.Status == 404:
		held = nil
	case err != nil:
		return nil, err
	}
	announce := *local
	announce.State = manifest.StateUploading
	announce.Tracks = make([]manifest.Track, len(local.Tracks))
	for i, t := range local.Tracks {
		t.Segments = []manifest.Segment{}
		t.InitDigest = ""
		announce.Tracks[i] = t
	}
	if err := c.PutRecording(ctx, &announce); err != nil {
		return nil, fmt.Errorf("announce recording: %w", err)
	}
	heldTrack := func(id string) *manifest.Track {
		if held == nil {
			return nil
		}
		for i := range held.Tracks {
			if held.Tracks[i].ID == id {
				return &held.Tracks[i]
			}
		}
		return nil
	}

	type job struct {
		track string
		seg   manifest.Segment // Seq 0: the init segment
	}
	var jobs []job
	var total int64
	final := announce
	final.State = local.State
	final.Tracks = make([]manifest.Track, len(local.Tracks))
	for i, t := range local.Tracks {
		ht := heldTrack(t.ID)
		ft := t
		ft.Segments = make([]manifest.Segment, len(t.Segments))
		copy(ft.Segments, t.Segments)
		if ht != nil && ht.InitDigest != "" {
			ft.InitDigest = ht.InitDigest
		} else if len(t.Segments) > 0 {
			jobs = append(jobs, job{track: t.ID})
		}
		for j, s := range t.Segments {
			if ht != nil && j < len(ht.Segments) && ht.Segments[j].Seq == s.Seq {
				ft.Segments[j].Digest, ft.Segments[j].Size = ht.Segments[j].Digest, ht.Segments[j].Size
				continue
			}
			jobs = append(jobs, job{track: t.ID, seg: s})
			total += s.Size
		}
		final.Tracks[i] = ft
	}

	var done atomic.Int64
	var mu sync.Mutex
	type sealedInfo struct {
		digest string
		size   int64
	}
	sealedDigest := map[string]sealedInfo{} // track/seq → what was uploaded
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan job)
	var wg sync.WaitGroup
	for range max(parallel, 1) {
		wg.Go(func() {
			for j := range work {
				digest, size, err := uploadOne(ctx, c, dir, local.ID, j.track, j.seg, recipient)
				if err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				sealedDigest[fmt.Sprintf("%s/%d", j.track, j.seg.Seq)] = sealedInfo{digest, size}
				mu.Unlock()
				if progress != nil && j.seg.Seq > 0 {
					progress(done.Add(j.seg.Size), total)
				}
			}
		})
	}
	// Init segments first: the server checks media segments against them.
	for _, j := range jobs {
		if j.seg.Seq == 0 {
			d, size, err := uploadOne(ctx, c, dir, local.ID, j.track, j.seg, recipient)
			if err != nil {
				cancel(err)
				break
			}
			sealedDigest[j.track+"/0"] = sealedInfo{d, size}
		}
	}
	for _, j := range jobs {
		if j.seg.Seq == 0 {
			continue
		}
		select {
		case work <- j:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	for i := range final.Tracks {
		t := &final.Tracks[i]
		if d, ok := sealedDigest[t.ID+"/0"]; ok {
			t.InitDigest = d.digest
		}
		for j := range t.Segments {
			if d, ok := sealedDigest[fmt.Sprintf("%s/%d", t.ID, t.Segments[j].Seq)]; ok {
				t.Segments[j].Digest, t.Segments[j].Size = d.digest, d.size
			}
		}
	}
	if local.State == manifest.StateCaptureFinished || local.State == manifest.StateCaptureError {
		if err := c.Complete(ctx, &final); err != nil {
			return nil, fmt.Errorf("complete recording: %w", err)
		}
		final.State = manifest.StateUploadFinished
	}
	return &final, nil
}

// uploadOne reads a segment (Seq 0: the init segment), checks it against the manifest,
// seals it and uploads it. It returns the sealed bytes' digest and size.
func uploadOne(ctx context.Context, c *Client, dir, recID, track string, seg manifest.Segment, to age.Recipient) (string, int64, error) {
	name := "init.mp4"
	if seg.Seq > 0 {
		name = hls.SegmentName(seg.Seq)
	}
	plain, err := os.ReadFile(filepath.Join(dir, track, name))
	if err != nil {
		return "", 0, err
	}
	if seg.Seq > 0 && manifest.Digest(plain) != seg.Digest {
		return "", 0, fmt.Errorf("%s/%s does not match its digest in the manifest: the file changed or is damaged", track, name)
	}
	var sealed bytes.Buffer
	if err := seal.Seal(&sealed, plain, to); err != nil {
		return "", 0, err
	}
	if seg.Seq == 0 {
		err = c.PutInit(ctx, recID, track, sealed.Bytes())
	} else {
		err = c.PutSegment(ctx, recID, track, seg.Seq, sealed.Bytes())
	}
	if err != nil {
		return "", 0, fmt.Errorf("upload %s/%s: %w", track, name, err)
	}
	return manifest.Digest(sealed.Bytes()), int64(sealed.Len()), nil
}
