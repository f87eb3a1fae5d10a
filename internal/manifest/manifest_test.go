package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fixtureID = "01a20695-87e6-79f5-bdb0-8d2e5a01edea"

// validManifest returns a fresh copy of a manifest that breaks no rule: a camera and an
// audio track whose digests are those of stand-in bytes. Durations are exact in binary
// so that sums compare equal.
func validManifest() *Manifest {
	track := func(id string, kind Kind, codec string, durations ...float64) Track {
		t := Track{
			ID:         id,
			Kind:       kind,
			Codec:      codec,
			InitDigest: Digest([]byte(id + " init")),
			Segments:   []Segment{},
		}
		start := 0.0
		for i, d := range durations {
			data := fmt.Appendf(nil, "%s segment %d", id, i+1)
			t.Segments = append(t.Segments, Segment{
				Seq:      i + 1,
				Start:    start,
				Duration: d,
				Size:     int64(len(data)),
				Digest:   Digest(data),
			})
			start += d
		}
		return t
	}
	camera := track("camera", KindCamera, "avc1.64001f", 2, 2, 1.5)
	camera.Width, camera.Height, camera.Bandwidth = 1280, 720, 2_500_000
	audio := track("audio", KindAudio, "mp4a.40.2", 2, 2, 1.625)
	audio.Bandwidth = 128_000
	return &Manifest{
		ID:        fixtureID,
		Title:     "Lineare Algebra, Vorlesung 3",
		State:     StateCaptureFinished,
		StartedAt: time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC),
		Tracks:    []Track{camera, audio},
		Pauses: []Pause{{
			At:        4,
			StartedAt: time.Date(2026, 3, 2, 9, 15, 4, 500_000_000, time.UTC),
			Duration:  12.5,
		}},
	}
}

// fixtureJSON is validManifest encoded.
func fixtureJSON(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := validManifest().Encode(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update if the change is meant)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestValidManifest(t *testing.T) {
	if err := validManifest().Validate(); err != nil {
		t.Fatalf("fixture: %v", err)
	}
}

func TestValidate(t *testing.T) {
	seg := func(m *Manifest) *Segment { return &m.Tracks[0].Segments[0] }
	tests := []struct {
		name  string
		edit  func(m *Manifest)
		field string // a part of the message that names the field at fault
	}{
		{"id empty", func(m *Manifest) { m.ID = "" }, "id"},
		{"id version 4", func(m *Manifest) { m.ID = "01a20695-87e6-49f5-bdb0-8d2e5a01edea" }, "id"},
		{"id uppercase", func(m *Manifest) { m.ID = strings.ToUpper(fixtureID) }, "id"},
		{"id too short", func(m *Manifest) { m.ID = fixtureID[:35] }, "id"},
		{"id too long", func(m *Manifest) { m.ID = fixtureID + "0" }, "id"},
		{"id without dashes", func(m *Manifest) { m.ID = strings.ReplaceAll(fixtureID, "-", "") }, "id"},
		{"id wrong variant", func(m *Manifest) { m.ID = "01a20695-87e6-79f5-cdb0-8d2e5a01edea" }, "id"},
		{"title over 500 bytes", func(m *Manifest) { m.Title = strings.Repeat("ä", 251) }, "title"},
		{"state unknown", func(m *Manifest) { m.State = "recording" }, "state"},
		{"state empty", func(m *Manifest) { m.State = "" }, "state"},
		{"started_at zero", func(m *Manifest) { m.StartedAt = time.Time{} }, "started_at"},
		{"no tracks", func(m *Manifest) { m.Tracks = nil }, "tracks"},
		{"17 tracks", func(m *Manifest) {
			for i := len(m.Tracks); i < 17; i++ {
				t := m.Tracks[0]
				t.ID = fmt.Sprintf("camera%d", i)
				m.Tracks = append(m.Tracks, t)
			}
		}, "tracks"},
		{"track id uppercase", func(m *Manifest) { m.Tracks[0].ID = "Camera" }, "tracks[0].id"},
		{"track id dot dot", func(m *Manifest) { m.Tracks[0].ID = ".." }, "tracks[0].id"},
		{"track id slash", func(m *Manifest) { m.Tracks[0].ID = "a/b" }, "tracks[0].id"},
		{"track id empty", func(m *Manifest) { m.Tracks[0].ID = "" }, "tracks[0].id"},
		{"track id 33 chars", func(m *Manifest) { m.Tracks[0].ID = strings.Repeat("a", 33) }, "tracks[0].id"},
		{"track id starts with digit", func(m *Manifest) { m.Tracks[0].ID = "2camera" }, "tracks[0].id"},
		{"track id repeated", func(m *Manifest) { m.Tracks[1].ID = m.Tracks[0].ID }, "tracks[1].id"},
		{"kind unknown", func(m *Manifest) { m.Tracks[0].Kind = "slides" }, "tracks[0].kind"},
		{"codec empty", func(m *Manifest) { m.Tracks[0].Codec = "" }, "tracks[0].codec"},
		{"codec empty with init", func(m *Manifest) { m.Tracks[0].Codec, m.Tracks[0].Segments = "", nil }, "tracks[0].codec"},
		{"codec hev1", func(m *Manifest) { m.Tracks[0].Codec = "hev1.1.6.L93.B0" }, "tracks[0].codec"},
		{"codec avc1 short", func(m *Manifest) { m.Tracks[0].Codec = "avc1.64001" }, "tracks[0].codec"},
		{"codec video on audio", func(m *Manifest) { m.Tracks[1].Codec = "avc1.64001f" }, "tracks[1].codec"},
		{"codec audio on camera", func(m *Manifest) { m.Tracks[0].Codec = "mp4a.40.2" }, "tracks[0].codec"},
		{"width negative", func(m *Manifest) { m.Tracks[0].Width = -1 }, "tracks[0]: size"},
		{"height negative", func(m *Manifest) { m.Tracks[0].Height = -1 }, "tracks[0]: size"},
		{"width too large", func(m *Manifest) { m.Tracks[0].Width = 16385 }, "tracks[0]: size"},
		{"bandwidth negative", func(m *Manifest) { m.Tracks[1].Bandwidth = -1 }, "tracks[1]: size or bandwidth"},
		{"init digest sha-512", func(m *Manifest) { m.Tracks[0].InitDigest = "sha-512=:abc=:" }, "tracks[0].init_digest"},
		{"init digest without colons", func(m *Manifest) {
			m.Tracks[0].InitDigest = strings.Trim(strings.TrimPrefix(m.Tracks[0].InitDigest, "sha-256="), ":")
		}, "tracks[0].init_digest"},
		{"seq gap", func(m *Manifest) { m.Tracks[0].Segments[1].Seq = 3 }, "tracks[0].segments[1].seq"},
		{"seq from 0", func(m *Manifest) {
			for i := range m.Tracks[0].Segments {
				m.Tracks[0].Segments[i].Seq = i
			}
		}, "tracks[0].segments[0].seq"},
		{"seq from 2", func(m *Manifest) {
			for i := range m.Tracks[0].Segments {
				m.Tracks[0].Segments[i].Seq = i + 2
			}
		}, "tracks[0].segments[0].seq"},
		{"duration zero", func(m *Manifest) { seg(m).Duration = 0 }, "tracks[0].segments[0]"},
		{"duration negative", func(m *Manifest) { seg(m).Duration = -2 }, "tracks[0].segments[0]"},
		{"duration NaN", func(m *Manifest) { seg(m).Duration = math.NaN() }, "tracks[0].segments[0]"},
		{"duration +Inf", func(m *Manifest) { seg(m).Duration = math.Inf(1) }, "tracks[0].segments[0]"},
		{"duration over 60", func(m *Manifest) { seg(m).Duration = 60.001 }, "tracks[0].segments[0]"},
		{"start negative", func(m *Manifest) { seg(m).Start = -0.5 }, "tracks[0].segments[0]"},
		{"start NaN", func(m *Manifest) { seg(m).Start = math.NaN() }, "tracks[0].segments[0]"},
		{"size zero", func(m *Manifest) { seg(m).Size = 0 }, "tracks[0].segments[0]"},
		{"size negative", func(m *Manifest) { seg(m).Size = -1 }, "tracks[0].segments[0]"},
		{"digest empty", func(m *Manifest) { seg(m).Digest = "" }, "tracks[0].segments[0].digest"},
		{"digest hex", func(m *Manifest) {
			seg(m).Digest = "sha-256=:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad:"
		}, "tracks[0].segments[0].digest"},
		{"digest url alphabet", func(m *Manifest) {
			seg(m).Digest = "sha-256=:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=:"
		}, "tracks[0].segments[0].digest"},
		{"pause at negative", func(m *Manifest) { m.Pauses[0].At = -1 }, "pauses[0]"},
		{"pause duration negative", func(m *Manifest) { m.Pauses[0].Duration = -1 }, "pauses[0]"},
		{"pause duration NaN", func(m *Manifest) { m.Pauses[0].Duration = math.NaN() }, "pauses[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			tt.edit(m)
			err := m.Validate()
			if err == nil {
				t.Fatal("Validate accepted the manifest")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %q", err, tt.field)
			}
		})
	}
}

// TestValidateAccepts checks the edges of each rule from the inside.
func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Manifest)
	}{
		{"every state", func(m *Manifest) {}}, // the states are run below
		{"empty title", func(m *Manifest) { m.Title = "" }},
		{"title of 500 bytes", func(m *Manifest) { m.Title = strings.Repeat("ä", 250) }},
		{"16 tracks", func(m *Manifest) {
			for i := len(m.Tracks); i < 16; i++ {
				t := m.Tracks[0]
				t.ID = fmt.Sprintf("screen%d", i)
				t.Kind = KindScreen
				m.Tracks = append(m.Tracks, t)
			}
		}},
		{"track id of 32 chars", func(m *Manifest) { m.Tracks[0].ID = "c" + strings.Repeat("_-9", 10) + "z" }},
		{"uppercase hex in avc1", func(m *Manifest) { m.Tracks[0].Codec = "avc1.64001F" }},
		{"mp4a.40.29", func(m *Manifest) { m.Tracks[1].Codec = "mp4a.40.29" }},
		{"no init digest yet", func(m *Manifest) { m.Tracks[0].InitDigest = "" }},
		{"track without segments", func(m *Manifest) { m.Tracks[0].Segments = nil }},
		{"codec unknown before anything was encoded", func(m *Manifest) {
			m.Tracks[0].Segments, m.Tracks[0].InitDigest, m.Tracks[0].Codec = nil, "", ""
		}},
		{"duration of 60", func(m *Manifest) { m.Tracks[0].Segments[0].Duration = 60 }},
		{"width 16384", func(m *Manifest) { m.Tracks[0].Width, m.Tracks[0].Height = 16384, 16384 }},
		{"no pauses", func(m *Manifest) { m.Pauses = nil }},
		{"pause of zero", func(m *Manifest) { m.Pauses[0].Duration = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			tt.edit(m)
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, s := range []State{StateCapturing, StateCaptureFinished, StateCaptureError, StateUploading, StateUploadFinished, StateUploadError} {
		t.Run("state "+string(s), func(t *testing.T) {
			m := validManifest()
			m.State = s
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func compact(tb testing.TB, s string) io.Reader {
	tb.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		tb.Fatal(err)
	}
	return &buf
}

// spaces yields n bytes of JSON whitespace without holding them in memory.
type spaces struct{ n int }

func (s *spaces) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), s.n)
	for i := range p[:n] {
		p[i] = ' '
	}
	s.n -= n
	return n, nil
}

// errReader fails every read.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestDecode(t *testing.T) {
	fixture := string(fixtureJSON(t))
	body := strings.TrimSuffix(fixture, "\n")
	// Padded leaves the fixture valid JSON of exactly n bytes, so only the size can be at fault.
	padded := func(n int) io.Reader {
		return io.MultiReader(strings.NewReader(fixture), &spaces{n - len(fixture)})
	}
	tests := []struct {
		name    string
		in      io.Reader
		wantErr string // "" when Decode must succeed
	}{
		{"fixture", strings.NewReader(fixture), ""},
		{"compact", compact(t, fixture), ""},
		{"trailing whitespace", strings.NewReader(fixture + "\n\t  \r\n"), ""},
		{"exactly MaxSize", padded(MaxSize), ""},
		{"over MaxSize", padded(MaxSize + 1), "larger than"},
		{"far over MaxSize", padded(4 * MaxSize), "larger than"},
		{"empty input", strings.NewReader(""), "EOF"},
		{"only whitespace", strings.NewReader(" \n"), "EOF"},
		{"null", strings.NewReader("null"), "id"},
		{"empty object", strings.NewReader("{}"), "id"},
		{"array", strings.NewReader("[]"), "cannot unmarshal"},
		{"unknown field", strings.NewReader(`{"id":"` + fixtureID + `","owner":"x"}`), "owner"},
		{"unknown nested field", strings.NewReader(strings.Replace(fixture, `"seq": 1,`, `"seq": 1, "crc": 7,`, 1)), "crc"},
		{"wrong type", strings.NewReader(strings.Replace(fixture, `"seq": 1,`, `"seq": "1",`, 1)), "seq"},
		{"fractional seq", strings.NewReader(strings.Replace(fixture, `"seq": 1,`, `"seq": 1.5,`, 1)), "seq"},
		{"bad time", strings.NewReader(strings.Replace(fixture, "2026-03-02T09:15:00Z", "2026-03-02 09:15", 1)), "parsing time"},
		{"truncated", strings.NewReader(fixture[:len(fixture)/2]), "unexpected EOF"},
		{"trailing data", strings.NewReader(fixture + "x"), "data after"},
		{"second object", strings.NewReader(fixture + fixture), "data after"},
		{"trailing number", strings.NewReader(body + " 1"), "data after"},
		// json.Decoder.More reports false before '}' and ']', so these must be caught otherwise.
		{"trailing close brace", strings.NewReader(body + "}"), "data after"},
		{"trailing close bracket", strings.NewReader(body + "]"), "data after"},
		{"breaks a rule", strings.NewReader(strings.Replace(fixture, `"state": "capture_finished"`, `"state": "done"`, 1)), "state"},
		{"read error", errReader{io.ErrClosedPipe}, "closed pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(m, validManifest()) {
					t.Errorf("decoded %+v, want the fixture", m)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted the input, want an error containing %q", tt.wantErr)
			}
			if m != nil {
				t.Errorf("Decode returned a manifest with error %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if _, ok := tt.in.(errReader); !ok && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestEncodeGolden(t *testing.T) {
	golden(t, "manifest.json", fixtureJSON(t))
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Manifest)
	}{
		{"fixture", func(m *Manifest) {}},
		{"nil pauses and segments", func(m *Manifest) { m.Pauses, m.Tracks[1].Segments = nil, nil }},
		{"offset time zone", func(m *Manifest) {
			m.StartedAt = m.StartedAt.In(time.FixedZone("", 2*3600))
		}},
		{"nanoseconds", func(m *Manifest) { m.StartedAt = m.StartedAt.Add(123456789) }},
		{"awkward floats", func(m *Manifest) {
			m.Tracks[0].Segments[0].Duration = 0.1 + 0.2
			m.Tracks[0].Segments[1].Start = 1e-300
			m.Pauses[0].Duration = math.MaxFloat64
		}},
		{"unicode and HTML in title", func(m *Manifest) { m.Title = "<Übung> & \"Prüfung\" \u2028 🎓" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := validManifest()
			tt.edit(want)
			var buf bytes.Buffer
			if err := want.Encode(&buf); err != nil {
				t.Fatal(err)
			}
			got, err := Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if !got.StartedAt.Equal(want.StartedAt) {
				t.Errorf("started_at %v, want %v", got.StartedAt, want.StartedAt)
			}
			if _, off := got.StartedAt.Zone(); off != 2*3600 && tt.name == "offset time zone" {
				t.Errorf("started_at lost its offset: %v", got.StartedAt)
			}
			// The zone's representation differs (a decoded UTC time has a nil location);
			// the instant and offset are checked above.
			got.StartedAt, want.StartedAt = got.StartedAt.UTC(), want.StartedAt.UTC()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the manifest\ngot  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEncodeWriteError(t *testing.T) {
	if err := validManifest().Encode(failWriter{}); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("Encode = %v, want the writer's error", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func TestDuration(t *testing.T) {
	track := func(lastStart, lastDuration float64) Track {
		return Track{Segments: []Segment{{Start: 0, Duration: 1}, {Start: lastStart, Duration: lastDuration}}}
	}
	tests := []struct {
		name string
		m    *Manifest
		want float64
	}{
		{"fixture: audio ends last", validManifest(), 5.625},
		{"no tracks", &Manifest{}, 0},
		{"no segments", &Manifest{Tracks: []Track{{}, {Segments: []Segment{}}}}, 0},
		{"first track longest", &Manifest{Tracks: []Track{track(10, 2), track(9, 2.5)}}, 12},
		{"last track longest", &Manifest{Tracks: []Track{track(1, 1), {}, track(30, 0.5)}}, 30.5},
		{"uses the last segment, not the sum", &Manifest{Tracks: []Track{track(100, 2)}}, 102},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Duration(); got != tt.want {
				t.Errorf("Duration() = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzDecode feeds Decode arbitrary bytes. Whatever it accepts must pass Validate and
// survive Encode → Decode unchanged, and its encoding must be a fixed point.
func FuzzDecode(f *testing.F) {
	fixture := fixtureJSON(f)
	f.Add(fixture)
	var c bytes.Buffer
	if err := json.Compact(&c, fixture); err != nil {
		f.Fatal(err)
	}
	f.Add(c.Bytes())
	f.Add(bytes.ReplaceAll(fixture, []byte("Z\""), []byte("+02:00\"")))
	f.Add(bytes.ReplaceAll(fixture, []byte(`"seq": 1,`), []byte(`"seq": 2,`)))
	f.Add(bytes.ReplaceAll(fixture, []byte(`"start": 0,`), []byte(`"start": -0,`)))
	f.Add(bytes.ReplaceAll(fixture, []byte(`"duration": 2,`), []byte(`"duration": 1e-320,`)))
	body := bytes.TrimSpace(fixture)
	f.Add(append(bytes.Clone(body), '}'))
	f.Add(append(bytes.Clone(body), ']'))
	f.Add(append(bytes.Clone(fixture), fixture...))
	for _, s := range []string{
		"", "null", "{}", "[]", `"x"`, "{", `{"id":1}`, `{"ID":"` + fixtureID + `"}`,
		`{"id":"` + fixtureID + `","id":"x"}`, "\xff\xfe", `{"title":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(bytes.NewReader(data))
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a manifest with error %v", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Decode accepted a manifest that Validate rejects: %v", err)
		}
		// Accepting anything but one well-formed JSON value means trailing data got through.
		if !json.Valid(data) {
			t.Fatalf("Decode accepted input that is not one JSON value; it ends %q", data[max(0, len(data)-40):])
		}
		var enc1 bytes.Buffer
		if err := m.Encode(&enc1); err != nil {
			t.Fatalf("Encode of a decoded manifest: %v", err)
		}
		m2, err := Decode(bytes.NewReader(enc1.Bytes()))
		if err != nil {
			t.Fatalf("Decode of Encode output: %v\n%s", err, enc1.Bytes())
		}
		var enc2 bytes.Buffer
		if err := m2.Encode(&enc2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc1.Bytes(), enc2.Bytes()) {
			t.Fatalf("encoding is not stable\nfirst:\n%s\nsecond:\n%s", enc1.Bytes(), enc2.Bytes())
		}
		// Times keep their instant and offset (checked through the encoding above) but
		// not necessarily the same *time.Location, so compare them in UTC.
		utc := func(m *Manifest) {
			m.StartedAt = m.StartedAt.UTC()
			for i := range m.Pauses {
				m.Pauses[i].StartedAt = m.Pauses[i].StartedAt.UTC()
			}
		}
		utc(m)
		utc(m2)
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the manifest\nfirst  %+v\nsecond %+v", m, m2)
		}
	})
}
