package encoder_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aulacapture/aula/capture"
	"github.com/aulacapture/aula/encoder"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  encoder.Config
		ok   bool
	}{
		{"video defaults", encoder.Config{Media: encoder.MediaVideo}, true},
		{"audio defaults", encoder.Config{Media: encoder.MediaAudio}, true},
		{"no media", encoder.Config{}, false},
		{"odd width", encoder.Config{Media: encoder.MediaVideo, Width: 1281, Height: 720}, false},
		{"negative height", encoder.Config{Media: encoder.MediaVideo, Width: 1280, Height: -2}, false},
		{"fps too high", encoder.Config{Media: encoder.MediaVideo, FPS: 1000}, false},
		{"negative bitrate", encoder.Config{Media: encoder.MediaVideo, Bitrate: -1}, false},
		{"tiny segments", encoder.Config{Media: encoder.MediaVideo, SegmentDuration: 100 * time.Millisecond}, false},
		{"44.1 kHz", encoder.Config{Media: encoder.MediaAudio, SampleRate: 44100}, false},
		{"three channels", encoder.Config{Media: encoder.MediaAudio, Channels: 3}, false},
		{"unknown encoder", encoder.Config{Media: encoder.MediaVideo, Encoder: "h265"}, false},
		{"named x264", encoder.Config{Media: encoder.MediaVideo, Encoder: "libx264"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if (err == nil) != c.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, encoder.ErrBadConfig) {
				t.Errorf("error %v does not wrap ErrBadConfig", err)
			}
		})
	}
}

// TestTrackSegments feeds 5 s of the synthetic camera and microphone through a video
// and an audio track and checks the CMAF output: an init segment with the codec
// configuration, media segments cut on the 2 s grid, video segments starting with an IDR.
func TestTrackSegments(t *testing.T) {
	cam, _ := capture.ParseSpec(capture.KindCamera, "synthetic,size=320x240")
	mic, _ := capture.ParseSpec(capture.KindMicrophone, "synthetic")
	src, err := capture.Open(context.Background(), []capture.Spec{cam, mic}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	segs := map[encoder.Media][]encoder.Segment{}
	tracks := map[int]*encoder.Track{}
	for i, st := range src.Streams() {
		media := encoder.MediaAudio
		if st.Video {
			media = encoder.MediaVideo
		}
		tr, err := encoder.NewTrack(encoder.Config{Media: media, Encoder: "libx264"}, nil, func(s encoder.Segment) error {
			segs[media] = append(segs[media], s)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		tracks[i] = tr
	}
	const length = 5 * time.Second
	for {
		f, err := src.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if f.PTS >= length {
			break
		}
		if err := tracks[f.Stream].WriteFrame(f.AV, f.PTS); err != nil {
			t.Fatal(err)
		}
	}
	for i, tr := range tracks {
		if len(tr.Init()) == 0 || !bytes.Contains(tr.Init(), []byte("moov")) {
			t.Errorf("track %d: init segment lacks moov", i)
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if st := tr.Stats(); st.Frames == 0 || st.Segments != 3 {
			t.Errorf("track %d stats %+v, want frames and 3 segments", i, st)
		}
	}
	for media, ss := range segs {
		if len(ss) != 3 {
			t.Fatalf("%s: %d segments for 5 s, want 3 (2 s, 2 s, 1 s)", media, len(ss))
		}
		for i, s := range ss {
			if s.Seq != i+1 {
				t.Errorf("%s segment %d has seq %d", media, i, s.Seq)
			}
			want := 2 * time.Second
			if i == 2 {
				want = time.Second
			}
			if d := s.Duration - want; d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Errorf("%s segment %d lasts %s, want %s", media, s.Seq, s.Duration, want)
			}
			if !bytes.Equal(s.Data[4:8], []byte("moof")) {
				t.Errorf("%s segment %d starts with %q, want moof", media, s.Seq, s.Data[4:8])
			}
			if i > 0 && s.Start != ss[i-1].Start+ss[i-1].Duration {
				t.Errorf("%s segment %d starts at %s, previous ends at %s", media, s.Seq, s.Start, ss[i-1].Start+ss[i-1].Duration)
			}
		}
		if media == encoder.MediaVideo {
			for _, s := range ss {
				if !hasIDR(s.Data) {
					t.Errorf("video segment %d has no IDR with SPS/PPS in band", s.Seq)
				}
			}
		}
	}
	if c := tracks[0].Codec(); !strings.HasPrefix(c, "avc1.64") {
		t.Errorf("video codec %q, want H.264 High (avc1.64…)", c)
	}
	if c := tracks[1].Codec(); c != "mp4a.40.2" {
		t.Errorf("audio codec %q, want AAC-LC", c)
	}
}

// hasIDR looks for an SPS (7), PPS (8) and IDR slice (5) among the length-prefixed NAL
// units of the mdat: SPS/PPS ride in band before each keyframe.
func hasIDR(seg []byte) bool {
	i := bytes.Index(seg, []byte("mdat"))
	if i < 0 {
		return false
	}
	b := seg[i+4:]
	seen := map[byte]bool{}
	for len(b) >= 4 {
		n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if n <= 0 || n+4 > len(b) {
			break
		}
		seen[b[4]&0x1f] = true
		if b[4]&0x1f == 5 || b[4]&0x1f == 1 {
			break // the first picture decides
		}
		b = b[4+n:]
	}
	return seen[7] && seen[8] && seen[5]
}

func TestWriteAfterClose(t *testing.T) {
	tr, err := encoder.NewTrack(encoder.Config{Media: encoder.MediaVideo}, nil, func(encoder.Segment) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("close of an unused track: %v", err)
	}
	if err := tr.WriteFrame(nil, 0); !errors.Is(err, encoder.ErrClosed) {
		t.Errorf("WriteFrame after Close = %v, want ErrClosed", err)
	}
}
