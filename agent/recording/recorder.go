// Package recording runs one recording session: it opens the capture sources, puts
// their frames on one timeline, encodes each stream into a CMAF track and hands segments
// and the growing manifest to a Store.
package recording

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/aulacapture/aula/capture"
	"github.com/aulacapture/aula/encoder"
	"github.com/aulacapture/aula/internal/manifest"
)

// Options configure a recording. Screens, Camera and Microphone say what to capture;
// at least one must be set.
type Options struct {
	// ID is the recording's UUIDv7; empty makes a new one.
	ID string
	// Title is stored in the manifest.
	Title string
	// Screens to capture, one track each.
	Screens []capture.Spec
	// Camera to capture, if any.
	Camera *capture.Spec
	// Microphone to capture, if any.
	Microphone *capture.Spec
	// Duration stops the recording after this much timeline; 0 records until ctx ends.
	Duration time.Duration
	// Screen and Camera are the encodings of those tracks (defaults: 1080p-sized screen at
	// the source's size, 720p camera); Audio is the microphone's.
	Screen, CameraVideo, Audio encoder.Config
	// Store receives the segments and manifest.
	Store Store
	// Log receives progress and diagnostics; nil discards.
	Log *slog.Logger
}

// Status is a snapshot of a running recording.
type Status struct {
	// ID of the recording.
	ID string
	// Elapsed timeline (pauses excluded).
	Elapsed time.Duration
	// Paused reports whether the recording is paused now.
	Paused bool
	// Tracks, in manifest order.
	Tracks []TrackStatus
	// Bytes written, all tracks.
	Bytes int64
}

// TrackStatus is one track's part of Status.
type TrackStatus struct {
	ID       string
	Kind     manifest.Kind
	Encoder  string
	Frames   int64
	FPS      float64 // frames per second since the previous Status call
	Dropped  int64   // frames the source skipped (gaps in its time stamps)
	PeakDBFS float64 // audio peak since the previous Status call
	Bytes    int64
	Segments int64
}

// Recorder runs one recording. Make it with New, run it with Run; Pause, Resume and
// Status may be called from any goroutine while it runs.
type Recorder struct {
	opts  Options
	log   *slog.Logger
	clock *clock

	mu       sync.Mutex
	man      manifest.Manifest
	tracks   []*trackState
	lastStat time.Time
	started  bool
}

type trackState struct {
	id      string
	kind    manifest.Kind
	enc     *encoder.Track
	index   int // in man.Tracks
	video   bool
	frameIv time.Duration
	lastPos time.Duration
	seen    bool
	dropped int64 // guarded by Recorder.mu
	epoch   int
	inited  bool
	// for FPS
	lastFrames int64
}

// New checks the options and prepares a recorder; nothing is opened yet.
func New(opts Options) (*Recorder, error) {
	if len(opts.Screens) == 0 && opts.Camera == nil && opts.Microphone == nil {
		return nil, ErrNoSources
	}
	if opts.Store == nil {
		return nil, errors.New("recording: no store")
	}
	if opts.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("make recording id: %w", err)
		}
		opts.ID = id.String()
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{opts: opts, log: log.With("recording", opts.ID)}
	r.man = manifest.Manifest{ID: opts.ID, Title: opts.Title, State: manifest.StateCapturing, Pauses: []manifest.Pause{}}
	return r, nil
}

// Started reports whether every source opened and the timeline began.
func (r *Recorder) Started() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started
}

// ID is the recording's UUIDv7.
func (r *Recorder) ID() string { return r.opts.ID }

// source is one opened device and the tracks its streams feed.
type source struct {
	name   string
	src    *capture.Source
	tracks []*trackState // by stream index; nil for ignored streams
}

// Run opens the sources, records until ctx ends or Duration is reached, and writes the
// final manifest. Segments written before an error stay valid and listed; the manifest
// then says capture_error.
func (r *Recorder) Run(ctx context.Context) (err error) {
	sources, err := r.open(ctx)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range sources {
			_ = s.src.Close()
		}
	}()
	now := time.Now()
	r.mu.Lock()
	r.clock = newClock(now)
	r.man.StartedAt = now.UTC()
	r.lastStat = now
	r.started = true
	r.mu.Unlock()
	r.log.Info("recording started", "tracks", len(r.tracks))

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	errs := make([]error, len(sources))
	for i, s := range sources {
		wg.Go(func() {
			if err := r.runSource(runCtx, s); err != nil {
				errs[i] = err
				cancel(err)
			}
		})
	}
	wg.Wait()
	err = errors.Join(errs...)
	// Flush every encoder: the frames already captured become the last segments.
	for _, t := range r.tracks {
		if cerr := t.enc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("finish %s track: %w", t.id, cerr)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.man.Pauses = r.clock.manifestPauses()
	r.man.State = manifest.StateCaptureFinished
	if err != nil {
		r.man.State = manifest.StateCaptureError
	}
	if ferr := r.opts.Store.Finish(r.manifestCopy()); ferr != nil {
		err = errors.Join(err, fmt.Errorf("write final manifest: %w", ferr))
	}
	r.log.Info("recording stopped", "state", r.man.State, "duration", r.man.Duration())
	return err
}

// open opens every source; on failure it closes what it opened.
func (r *Recorder) open(ctx context.Context) (out []*source, err error) {
	defer func() {
		if err != nil {
			for _, s := range out {
				_ = s.src.Close()
			}
			for _, t := range r.tracks {
				t.enc.Abort()
			}
			r.tracks = nil
		}
	}()
	type group struct {
		specs []capture.Spec
		kinds []manifest.Kind
	}
	var groups []group
	var synth group
	add := func(s capture.Spec, k manifest.Kind) {
		if s.Synthetic() && k != manifest.KindScreen {
			// A synthetic camera and microphone share one clock, as a real camera's
			// picture and sound would in the room.
			synth.specs, synth.kinds = append(synth.specs, s), append(synth.kinds, k)
			return
		}
		groups = append(groups, group{[]capture.Spec{s}, []manifest.Kind{k}})
	}
	for _, s := range r.opts.Screens {
		add(s, manifest.KindScreen)
	}
	if r.opts.Camera != nil {
		add(*r.opts.Camera, manifest.KindCamera)
	}
	if r.opts.Microphone != nil {
		add(*r.opts.Microphone, manifest.KindAudio)
	}
	if len(synth.specs) > 0 {
		groups = append(groups, synth)
	}
	screens := 0
	for _, g := range groups {
		src, err := capture.Open(ctx, g.specs, r.log)
		if err != nil {
			return out, err
		}
		s := &source{name: g.specs[0].String(), src: src}
		out = append(out, s)
		infos := src.Streams()
		s.tracks = make([]*trackState, len(infos))
		for i, info := range infos {
			if info.Kind == "" {
				continue
			}
			kind := manifest.KindAudio
			cfg := r.opts.Audio
			cfg.Media = encoder.MediaAudio
			id := "audio"
			if info.Video {
				kind, cfg, id = manifest.KindCamera, r.opts.CameraVideo, "camera"
				if info.Kind == capture.KindScreen {
					kind, cfg, id = manifest.KindScreen, r.opts.Screen, "screen"
					if screens++; screens > 1 {
						id += strconv.Itoa(screens)
					}
				}
				cfg.Media = encoder.MediaVideo
				if cfg.Width == 0 {
					// Screens up to 1080p, cameras up to 720p unless configured: larger
					// pictures are scaled down, keeping their shape.
					maxW, maxH := 1920, 1080
					if kind == manifest.KindCamera {
						maxW, maxH = 1280, 720
					}
					cfg.Width, cfg.Height = fitWithin(info.Width, info.Height, maxW, maxH)
				}
				if cfg.FPS == 0 && info.FPS > 0 {
					cfg.FPS = int(info.FPS + 0.5)
				}
			}
			ts := &trackState{id: id, kind: kind, video: info.Video, index: len(r.man.Tracks)}
			if info.Video && info.FPS > 0 {
				ts.frameIv = time.Duration(float64(time.Second) / info.FPS)
			}
			enc, err := encoder.NewTrack(cfg, r.log.With("track", id), func(seg encoder.Segment) error {
				return r.onSegment(ts, seg)
			})
			if err != nil {
				return out, fmt.Errorf("%s track: %w", id, err)
			}
			ts.enc = enc
			t := manifest.Track{ID: id, Kind: kind, Segments: []manifest.Segment{}}
			if info.Video {
				t.Width, t.Height = cfg.Width, cfg.Height
			}
			r.man.Tracks = append(r.man.Tracks, t)
			r.tracks = append(r.tracks, ts)
			s.tracks[i] = ts
		}
	}
	return out, nil
}

// fitWithin scales w×h down, keeping its shape, to fit within maxW×maxH, in even
// numbers as H.264 with 4:2:0 chroma needs.
func fitWithin(w, h, maxW, maxH int) (int, int) {
	if w <= maxW && h <= maxH {
		return w &^ 1, h &^ 1
	}
	if w*maxH > h*maxW { // wider than the box
		return maxW &^ 1, (h * maxW / w) &^ 1
	}
	return (w * maxH / h) &^ 1, maxH &^ 1
}

// runSource reads one source until ctx ends, the duration is reached, or it fails.
func (r *Recorder) runSource(ctx context.Context, s *source) error {
	var base time.Time
	mapped := false
	live := 0 // streams still short of the duration
	for _, t := range s.tracks {
		if t != nil {
			live++
		}
	}
	past := make([]bool, len(s.tracks))
	for {
		fr, err := s.src.Read(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, capture.ErrEnded) {
				return nil
			}
			return fmt.Errorf("%s: %w", s.name, err)
		}
		t := s.tracks[fr.Stream]
		if t == nil {
			continue
		}
		if !mapped {
			// Devices that stamp frames with the wall clock map exactly; others (the
			// synthetic source) are anchored at their first frame's arrival.
			now := time.Now()
			if d := now.Sub(time.Unix(0, int64(fr.PTS))); d < time.Hour && d > -time.Hour {
				base = time.Unix(0, 0)
			} else {
				base = now.Add(-fr.PTS)
			}
			mapped = true
		}
		pos, ok := r.clock.position(base.Add(fr.PTS))
		if !ok {
			continue
		}
		if r.opts.Duration > 0 && pos >= r.opts.Duration {
			if !past[fr.Stream] {
				past[fr.Stream] = true
				if live--; live == 0 {
					return nil
				}
			}
			continue
		}
		r.noteFrame(t, pos)
		if _, epoch := r.clock.state(); epoch != t.epoch {
			t.epoch = epoch
			t.enc.ForceKeyframe()
			t.seen = false // the pause is not a drop
		}
		if err := t.enc.WriteFrame(fr.AV, pos); err != nil {
			return fmt.Errorf("%s track: %w", t.id, err)
		}
	}
}

// noteFrame counts frames the source skipped, from gaps in its time stamps.
func (r *Recorder) noteFrame(t *trackState, pos time.Duration) {
	if !t.video || t.frameIv == 0 {
		return
	}
	if t.seen {
		if gap := pos - t.lastPos; gap > t.frameIv*3/2 {
			r.mu.Lock()
			t.dropped += int64((gap+t.frameIv/2)/t.frameIv) - 1
			r.mu.Unlock()
		}
	}
	t.lastPos, t.seen = pos, true
}

// onSegment records a finished segment in the manifest and stores it. It runs on the
// track's source goroutine.
func (r *Recorder) onSegment(t *trackState, seg encoder.Segment) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	mt := &r.man.Tracks[t.index]
	if !t.inited {
		init := t.enc.Init()
		if err := r.opts.Store.Init(t.id, init); err != nil {
			return err
		}
		mt.InitDigest = manifest.Digest(init)
		mt.Codec = t.enc.Codec()
		t.inited = true
		// A store that uploads needs the track's codec on record before its init
		// segment can go: give it the manifest now, not only with the first segment.
		if mw, ok := r.opts.Store.(ManifestWriter); ok {
			if err := mw.Manifest(r.manifestCopy()); err != nil {
				return err
			}
		}
	}
	mt.Segments = append(mt.Segments, manifest.Segment{
		Seq:      seg.Seq,
		Start:    seg.Start.Seconds(),
		Duration: seg.Duration.Seconds(),
		Size:     int64(len(seg.Data)),
		Digest:   manifest.Digest(seg.Data),
	})
	if d := seg.Duration.Seconds(); d > 0 {
		mt.Bandwidth = max(mt.Bandwidth, int64(float64(len(seg.Data)*8)/d))
	}
	r.man.Pauses = r.clock.manifestPauses()
	if err := r.opts.Store.Segment(t.id, seg.Seq, seg.Data, r.manifestCopy()); err != nil {
		// The segment is not stored: forget it, so the manifest names only what exists.
		mt.Segments = mt.Segments[:len(mt.Segments)-1]
		return err
	}
	return nil
}

// manifestCopy copies the manifest so a store may keep it; r.mu is held.
func (r *Recorder) manifestCopy() *manifest.Manifest {
	m := r.man
	m.Tracks = make([]manifest.Track, len(r.man.Tracks))
	for i, t := range r.man.Tracks {
		t.Segments = append([]manifest.Segment(nil), t.Segments...)
		m.Tracks[i] = t
	}
	m.Pauses = append([]manifest.Pause(nil), r.man.Pauses...)
	return &m
}

// Manifest returns a copy of the manifest as it stands.
func (r *Recorder) Manifest() *manifest.Manifest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.manifestCopy()
}

// Pause stops capturing until Resume; the timeline does not advance meanwhile. It
// reports false when not recording or already paused.
func (r *Recorder) Pause() bool {
	r.mu.Lock()
	c := r.clock
	r.mu.Unlock()
	if c == nil || !c.pause(time.Now()) {
		return false
	}
	r.log.Info("paused")
	return true
}

// Resume continues after Pause; the next video frames start with a keyframe.
func (r *Recorder) Resume() bool {
	r.mu.Lock()
	c := r.clock
	r.mu.Unlock()
	if c == nil || !c.resume(time.Now()) {
		return false
	}
	r.log.Info("resumed")
	return true
}

// Status reports progress; FPS and audio peak cover the time since the previous call.
func (r *Recorder) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{ID: r.opts.ID}
	if !r.started {
		return st
	}
	now := time.Now()
	st.Elapsed = r.clock.elapsed(now)
	st.Paused, _ = r.clock.state()
	secs := now.Sub(r.lastStat).Seconds()
	r.lastStat = now
	for _, t := range r.tracks {
		es := t.enc.Stats()
		ts := TrackStatus{ID: t.id, Kind: t.kind, Encoder: es.Encoder, Frames: es.Frames, Dropped: t.dropped,
			PeakDBFS: es.PeakDBFS, Bytes: es.Bytes, Segments: es.Segments}
		if secs > 0 {
			ts.FPS = float64(es.Frames-t.lastFrames) / secs
		}
		t.lastFrames = es.Frames
		st.Bytes += es.Bytes
		st.Tracks = append(st.Tracks, ts)
	}
	return st
}
