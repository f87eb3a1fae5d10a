package hls

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// track builds a track whose segments have the given durations, back to back.
func track(id string, kind manifest.Kind, codec string, bandwidth int64, durations ...float64) manifest.Track {
	t := manifest.Track{ID: id, Kind: kind, Codec: codec, Bandwidth: bandwidth, Segments: []manifest.Segment{}}
	start := 0.0
	for i, d := range durations {
		t.Segments = append(t.Segments, manifest.Segment{Seq: i + 1, Start: start, Duration: d, Size: 1000})
		start += d
	}
	return t
}

func screen() manifest.Track {
	t := track("screen", manifest.KindScreen, "avc1.640028", 4_000_000, 2, 2, 2, 0.96)
	t.Width, t.Height = 1920, 1080
	return t
}

func camera() manifest.Track {
	t := track("camera", manifest.KindCamera, "avc1.64001f", 2_500_000, 2, 2, 2, 1)
	t.Width, t.Height = 1280, 720
	return t
}

func audio() manifest.Track {
	return track("audio", manifest.KindAudio, "mp4a.40.2", 128_000, 2.0053333, 1.984, 2.0053333, 0.96)
}

func recording(tracks ...manifest.Track) *manifest.Manifest {
	return &manifest.Manifest{ID: "01a20695-87e6-79f5-bdb0-8d2e5a01edea", State: manifest.StateCaptureFinished, Tracks: tracks}
}

// serverURLs names everything by absolute path, as a server might.
func serverURLs() URLs {
	return URLs{
		Init:    func(track string) string { return "/r/1/" + track + "/init.mp4" },
		Segment: func(track string, seq int) string { return fmt.Sprintf("/r/1/%s/%d.m4s?v=2", track, seq) },
		Media:   func(track string) string { return "/r/1/" + track + ".m3u8" },
	}
}

func TestGolden(t *testing.T) {
	media := func(tr manifest.Track, final bool, urls URLs) func(io.Writer) error {
		return func(w io.Writer) error { return WriteMedia(w, tr, final, 0, urls) }
	}
	master := func(m *manifest.Manifest) func(io.Writer) error {
		return func(w io.Writer) error { return WriteMaster(w, m, FileURLs()) }
	}
	tests := []struct {
		file  string
		write func(io.Writer) error
	}{
		{"media_event.m3u8", media(camera(), false, FileURLs())},
		{"media_event_empty.m3u8", media(track("camera", manifest.KindCamera, "avc1.64001f", 0), false, FileURLs())},
		{"media_vod.m3u8", media(camera(), true, FileURLs())},
		{"media_vod_audio.m3u8", media(audio(), true, FileURLs())},
		{"media_target_round_up.m3u8", media(track("screen", manifest.KindScreen, "avc1.640028", 0, 2, 2.6, 1.4), true, FileURLs())},
		{"media_server_urls.m3u8", media(camera(), true, serverURLs())},
		// Manifest order is camera, audio, screen so that the screen-first rule shows.
		{"master_screen_camera_audio.m3u8", master(recording(camera(), audio(), screen()))},
		{"master_camera_audio.m3u8", master(recording(audio(), camera()))},
		{"master_audio_only.m3u8", master(recording(audio()))},
		{"master_video_only.m3u8", master(recording(screen()))},
		{"master_server_urls.m3u8", func(w io.Writer) error {
			return WriteMaster(w, recording(screen(), audio()), serverURLs())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(&buf); err != nil {
				t.Fatal(err)
			}
			checkPlaylist(t, buf.String())
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("output differs from %s (run go test -update if the change is meant)\ngot:\n%s\nwant:\n%s", path, buf.Bytes(), want)
			}
		})
	}
}

// TestWriteMediaTargetDuration checks RFC 8216 §4.3.3.1 as a player reads it: each
// EXTINF value as written, rounded to the nearest integer, is at most the target duration.
func TestWriteMediaTargetDuration(t *testing.T) {
	tests := []struct {
		name       string
		durations  []float64
		wantTarget int // 0: any target that the EXTINF values fit
	}{
		{"no segments", nil, 1},
		{"short segments", []float64{0.3, 0.2}, 1},
		{"exact 2", []float64{2, 2, 2}, 2},
		{"2.4 rounds down", []float64{2, 2.4}, 2},
		{"2.5 rounds up", []float64{2, 2.5}, 3},
		{"2.6 rounds up", []float64{2.6, 2}, 3},
		{"longest in the middle", []float64{1, 6.2, 1}, 6},
		// %.5f writes 2.499999 as 2.50000, which rounds to 3.
		{"2.499999 written as 2.50000", []float64{2, 2.499999}, 0},
		{"1.4999951 written as 1.50000", []float64{1.4999951}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteMedia(&buf, track("screen", manifest.KindScreen, "avc1.640028", 0, tt.durations...), true, 0, FileURLs()); err != nil {
				t.Fatal(err)
			}
			p := checkPlaylist(t, buf.String())
			if tt.wantTarget != 0 && p.target != tt.wantTarget {
				t.Errorf("EXT-X-TARGETDURATION:%d, want %d", p.target, tt.wantTarget)
			}
			if len(p.extinf) != len(tt.durations) {
				t.Errorf("%d EXTINF tags for %d segments", len(p.extinf), len(tt.durations))
			}
		})
	}
}

// TestWriteMediaEventTargetStable rewrites an EVENT playlist as segments arrive, as the
// agent's store does. RFC 8216 §6.2.1: the EXT-X-TARGETDURATION value MUST NOT change.
func TestWriteMediaEventTargetStable(t *testing.T) {
	tests := []struct {
		name      string
		durations []float64
	}{
		{"steady 2 s", []float64{2, 2, 2, 1.2}},
		{"a long GOP later", []float64{2, 2, 2.6, 2}},
		{"first segment short", []float64{1.2, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := 0
			for n := 1; n <= len(tt.durations); n++ {
				var buf bytes.Buffer
				tr := track("camera", manifest.KindCamera, "avc1.64001f", 0, tt.durations[:n]...)
				if err := WriteMedia(&buf, tr, false, 3*time.Second, FileURLs()); err != nil {
					t.Fatal(err)
				}
				p := checkPlaylist(t, buf.String())
				if n == 1 {
					first = p.target
				} else if p.target != first {
					t.Fatalf("EXT-X-TARGETDURATION went from %d to %d when segment %d arrived", first, p.target, n)
				}
			}
		})
	}
}

func TestWriteMediaSegmentURLs(t *testing.T) {
	tr := track("camera", manifest.KindCamera, "avc1.64001f", 0, 2, 2, 2)
	var buf bytes.Buffer
	if err := WriteMedia(&buf, tr, false, 0, FileURLs()); err != nil {
		t.Fatal(err)
	}
	p := checkPlaylist(t, buf.String())
	want := []string{"000001.m4s", "000002.m4s", "000003.m4s"}
	if strings.Join(p.uris, " ") != strings.Join(want, " ") {
		t.Errorf("segment URIs %q, want %q", p.uris, want)
	}
}

func TestSegmentName(t *testing.T) {
	tests := []struct {
		seq  int
		want string
	}{
		{1, "000001.m4s"},
		{42, "000042.m4s"},
		{999999, "999999.m4s"},
		{1000000, "1000000.m4s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := SegmentName(tt.seq); got != tt.want {
				t.Errorf("SegmentName(%d) = %q, want %q", tt.seq, got, tt.want)
			}
		})
	}
}

func TestFileURLs(t *testing.T) {
	u := FileURLs()
	tests := []struct{ name, got, want string }{
		{"init", u.Init("screen2"), "init.mp4"},
		{"segment", u.Segment("screen2", 7), "000007.m4s"},
		{"media", u.Media("screen2"), "screen2/index.m3u8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// failWriter is an io.Writer whose every write fails.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func TestWriteError(t *testing.T) {
	tests := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"media", func(w io.Writer) error { return WriteMedia(w, camera(), true, 0, FileURLs()) }},
		{"master", func(w io.Writer) error { return WriteMaster(w, recording(camera(), audio()), FileURLs()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(failWriter{}); !errors.Is(err, io.ErrShortWrite) {
				t.Errorf("got %v, want the writer's error", err)
			}
		})
	}
}

// playlist is what checkPlaylist learnt from a playlist.
type playlist struct {
	version int
	target  int
	extinf  []float64
	uris    []string
	streams []map[string]string // EXT-X-STREAM-INF attributes
}

// checkPlaylist applies the RFC 8216 rules these playlists can break.
func checkPlaylist(t *testing.T, text string) playlist {
	t.Helper()
	var p playlist
	if !strings.HasPrefix(text, "#EXTM3U\n") {
		t.Errorf("playlist does not start with #EXTM3U")
	}
	if !strings.HasSuffix(text, "\n") || strings.Contains(text, "\r") {
		t.Errorf("lines must end in a single LF")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var hasMap, isMaster, endList bool
	audioGroups := map[string]bool{}
	uriNeeded := ""
	for i, line := range lines {
		if line == "" {
			t.Errorf("line %d is blank", i+1)
			continue
		}
		if uriNeeded != "" {
			if strings.HasPrefix(line, "#") {
				t.Errorf("line %d: %s is not followed by a URI", i, uriNeeded)
			} else {
				p.uris = append(p.uris, line)
			}
			uriNeeded = ""
			continue
		}
		if !strings.HasPrefix(line, "#") {
			t.Errorf("line %d: URI %q without a tag before it", i+1, line)
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		switch name {
		case "#EXTM3U", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-MEDIA-SEQUENCE", "#EXT-X-PLAYLIST-TYPE":
		case "#EXT-X-VERSION":
			p.version, _ = strconv.Atoi(value)
		case "#EXT-X-TARGETDURATION":
			p.target, _ = strconv.Atoi(value)
		case "#EXT-X-MAP":
			hasMap = true
		case "#EXT-X-ENDLIST":
			endList = true
		case "#EXTINF":
			d, err := strconv.ParseFloat(strings.TrimSuffix(value, ","), 64)
			if err != nil {
				t.Errorf("line %d: %v", i+1, err)
			}
			p.extinf = append(p.extinf, d)
			uriNeeded = name
		case "#EXT-X-MEDIA":
			isMaster = true
			a := attributes(t, value)
			if a["TYPE"] == "AUDIO" {
				audioGroups[a["GROUP-ID"]] = true
			}
		case "#EXT-X-STREAM-INF":
			isMaster = true
			p.streams = append(p.streams, attributes(t, value))
			uriNeeded = name
		default:
			t.Errorf("line %d: unexpected tag %s", i+1, name)
		}
	}
	if uriNeeded != "" {
		t.Errorf("playlist ends after %s", uriNeeded)
	}
	if hasMap && p.version < 6 {
		t.Errorf("EXT-X-MAP needs EXT-X-VERSION 6 or more, have %d", p.version)
	}
	if isMaster {
		if len(p.streams) == 0 {
			t.Errorf("master playlist without EXT-X-STREAM-INF")
		}
		for _, s := range p.streams {
			if bw, err := strconv.ParseInt(s["BANDWIDTH"], 10, 64); err != nil || bw <= 0 {
				t.Errorf("BANDWIDTH %q", s["BANDWIDTH"])
			}
			if s["CODECS"] == "" {
				t.Errorf("variant without CODECS")
			}
			if g, ok := s["AUDIO"]; ok {
				if !audioGroups[g] {
					t.Errorf("AUDIO=%q names no EXT-X-MEDIA group", g)
				}
				if !strings.Contains(s["CODECS"], "mp4a.") {
					t.Errorf("CODECS %q leaves out the audio group's codec", s["CODECS"])
				}
			}
		}
		return p
	}
	if !strings.Contains(text, "#EXT-X-TARGETDURATION:") {
		t.Errorf("media playlist without EXT-X-TARGETDURATION")
	}
	for _, d := range p.extinf {
		if int(math.Round(d)) > p.target {
			t.Errorf("EXTINF %v rounds above EXT-X-TARGETDURATION:%d", d, p.target)
		}
	}
	vod := strings.Contains(text, "#EXT-X-PLAYLIST-TYPE:VOD\n")
	if vod != endList {
		t.Errorf("PLAYLIST-TYPE VOD is %v but EXT-X-ENDLIST is %v", vod, endList)
	}
	return p
}

// attributes parses an RFC 8216 §4.2 attribute list.
func attributes(t *testing.T, s string) map[string]string {
	t.Helper()
	a := map[string]string{}
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			t.Errorf("attribute list %q: no '='", s)
			return a
		}
		if _, dup := a[name]; dup {
			t.Errorf("attribute %s repeated", name)
		}
		if !strings.HasPrefix(rest, `"`) {
			a[name], s, _ = strings.Cut(rest, ",")
			continue
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			t.Errorf("attribute %s: unterminated quoted string", name)
			return a
		}
		a[name], rest = rest[1:end+1], rest[end+2:]
		if rest != "" && !strings.HasPrefix(rest, ",") {
			t.Errorf("attribute list: junk %q after %s", rest, name)
			return a
		}
		s = strings.TrimPrefix(rest, ",")
	}
	return a
}
