// Package manifest defines the recording manifest that agent and server exchange: which
// tracks a recording has and every segment's sequence number, duration and digest.
// Both sides read it strictly, because it arrives from the other machine.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// State is where a recording is in its life; the values are Opencast's, so the two map
// one to one.
type State string

// Recording states.
const (
	StateCapturing       State = "capturing"
	StateCaptureFinished State = "capture_finished"
	StateCaptureError    State = "capture_error"
	StateUploading       State = "uploading"
	StateUploadFinished  State = "upload_finished"
	StateUploadError     State = "upload_error"
)

// Kind is what a track shows.
type Kind string

// Track kinds.
const (
	KindCamera Kind = "camera"
	KindScreen Kind = "screen"
	KindAudio  Kind = "audio"
)

// MaxSize caps an encoded manifest (a day of 2 s segments over a handful of tracks fits).
const MaxSize = 16 << 20

// ErrInvalid reports a manifest that breaks a rule; the wrapped text names the field.
var ErrInvalid = errors.New("invalid manifest")

// Manifest describes one recording.
type Manifest struct {
	// ID is the recording's UUIDv7, made by the agent.
	ID string `json:"id"`
	// Title is what people see; it may be empty.
	Title string `json:"title"`
	// State is the recording's state.
	State State `json:"state"`
	// StartedAt is the wall-clock time of the timeline's zero.
	StartedAt time.Time `json:"started_at"`
	// Tracks of the recording.
	Tracks []Track `json:"tracks"`
	// Pauses are the spans that were not captured.
	Pauses []Pause `json:"pauses"`
}

// Track is one sequence of CMAF segments.
type Track struct {
	// ID names the track within the recording ("screen", "camera", "audio", "screen2").
	ID string `json:"id"`
	// Kind of content.
	Kind Kind `json:"kind"`
	// Codec is the RFC 6381 codec string ("avc1.64001f", "mp4a.40.2").
	Codec string `json:"codec"`
	// Width and Height of video tracks.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Bandwidth is the peak bit rate in bits per second, for HLS.
	Bandwidth int64 `json:"bandwidth,omitempty"`
	// InitDigest is "sha-256=:BASE64:" of the init segment (RFC 9530 form).
	InitDigest string `json:"init_digest"`
	// Segments in sequence order.
	Segments []Segment `json:"segments"`
}

// Segment is one media segment of a track.
type Segment struct {
	// Seq counts from 1 without gaps.
	Seq int `json:"seq"`
	// Start is the segment's start on the timeline, in seconds.
	Start float64 `json:"start"`
	// Duration in seconds.
	Duration float64 `json:"duration"`
	// Size in bytes.
	Size int64 `json:"size"`
	// Digest is "sha-256=:BASE64:" of the segment's bytes.
	Digest string `json:"digest"`
}

// Pause is a span of wall-clock time that was not recorded.
type Pause struct {
	// At is the timeline position (seconds) where recording resumed after the pause.
	At float64 `json:"at"`
	// StartedAt is the wall-clock time Pause was pressed.
	StartedAt time.Time `json:"started_at"`
	// Duration of the pause in seconds.
	Duration float64 `json:"duration"`
}

var (
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	trackRE  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	digestRE = regexp.MustCompile(`^sha-256=:[A-Za-z0-9+/]{43}=:$`)
	codecRE  = regexp.MustCompile(`^(avc1\.[0-9a-fA-F]{6}|mp4a\.40\.[0-9]{1,2})$`)
)

// Duration is the recording's length: the longest track's end.
func (m *Manifest) Duration() float64 {
	var d float64
	for _, t := range m.Tracks {
		if n := len(t.Segments); n > 0 {
			d = max(d, t.Segments[n-1].Start+t.Segments[n-1].Duration)
		}
	}
	return d
}

// Validate reports the first rule the manifest breaks, naming the field.
func (m *Manifest) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if !ValidID(m.ID) {
		return bad("id %q is not a lowercase UUIDv7", m.ID)
	}
	if len(m.Title) > 500 {
		return bad("title is longer than 500 bytes")
	}
	switch m.State {
	case StateCapturing, StateCaptureFinished, StateCaptureError, StateUploading, StateUploadFinished, StateUploadError:
	default:
		return bad("state %q is unknown", m.State)
	}
	if m.StartedAt.IsZero() {
		return bad("started_at is missing")
	}
	if len(m.Tracks) == 0 || len(m.Tracks) > 16 {
		return bad("tracks: want 1 to 16, have %d", len(m.Tracks))
	}
	seen := map[string]bool{}
	for i, t := range m.Tracks {
		if !ValidTrackID(t.ID) {
			return bad("tracks[%d].id %q: want lowercase letters, digits, _ or -", i, t.ID)
		}
		if seen[t.ID] {
			return bad("tracks[%d].id %q is repeated", i, t.ID)
		}
		seen[t.ID] = true
		switch t.Kind {
		case KindCamera, KindScreen, KindAudio:
		default:
			return bad("tracks[%d].kind %q: want camera, screen or audio", i, t.Kind)
		}
		switch {
		case t.Codec == "" && len(t.Segments) == 0 && t.InitDigest == "":
			// A track announced before its encoder produced anything: codec unknown yet.
		case !codecRE.MatchString(t.Codec):
			return bad("tracks[%d].codec %q: want avc1.PPCCLL or mp4a.40.N", i, t.Codec)
		case (t.Kind == KindAudio) != (t.Codec[:4] == "mp4a"):
			return bad("tracks[%d].codec %q does not fit kind %q", i, t.Codec, t.Kind)
		}
		if t.Width < 0 || t.Height < 0 || t.Width > 16384 || t.Height > 16384 || t.Bandwidth < 0 {
			return bad("tracks[%d]: size or bandwidth out of range", i)
		}
		if t.InitDigest != "" && !digestRE.MatchString(t.InitDigest) {
			return bad("tracks[%d].init_digest %q: want sha-256=:BASE64:", i, t.InitDigest)
		}
		for j, s := range t.Segments {
			if s.Seq != j+1 {
				return bad("tracks[%d].segments[%d].seq is %d, want %d", i, j, s.Seq, j+1)
			}
			if !(s.Duration > 0 && s.Duration <= 60) || !(s.Start >= 0) || s.Size <= 0 {
				return bad("tracks[%d].segments[%d]: start, duration or size out of range", i, j)
			}
			if !digestRE.MatchString(s.Digest) {
				return bad("tracks[%d].segments[%d].digest %q: want sha-256=:BASE64:", i, j, s.Digest)
			}
		}
	}
	for i, p := range m.Pauses {
		if !(p.At >= 0) || !(p.Duration >= 0) {
			return bad("pauses[%d]: at and duration must not be negative", i)
		}
	}
	return nil
}

// Decode reads one manifest strictly: unknown fields, trailing data, more than MaxSize
// bytes and broken rules are errors.
func Decode(r io.Reader) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// More() is false before a stray '}' or ']', so ask for the next token instead.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the manifest", ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Encode writes the manifest as indented JSON.
func (m *Manifest) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// ValidID reports whether id is a recording id: a lowercase UUIDv7.
func ValidID(id string) bool { return uuidRE.MatchString(id) && id[14] == '7' }

// ValidTrackID reports whether id can name a track: lowercase letters, digits, _ and -,
// starting with a letter, at most 32 bytes.
func ValidTrackID(id string) bool { return trackRE.MatchString(id) }
