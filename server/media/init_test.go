package media

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/Eyevinn/mp4ff/aac"
	"github.com/Eyevinn/mp4ff/mp4"
)

var (
	wantVideo = Init{Kind: KindVideo, Codec: "avc1.64000d", Timescale: 15360, TrackID: 1, Width: 320, Height: 240}
	wantAudio = Init{Kind: KindAudio, Codec: "mp4a.40.2", Timescale: 48000, TrackID: 1}
)

// encodeInit encodes an init segment that mp4ff built.
func encodeInit(t testing.TB, in *mp4.InitSegment) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := in.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// builtInit makes an init with mp4ff: one track per kind given, video with the SPS and PPS
// of testdata's H.264 init under sample entry typ, audio as AAC of the object type given.
func builtInit(t testing.TB, videoType string, aot byte, kinds ...string) []byte {
	t.Helper()
	ref := read(t, "h264_init.mp4")
	b, err := decode(ref, span{typ: "moov", start: 28, end: len(ref), hdr: 8})
	if err != nil {
		t.Fatal(err)
	}
	avcC := b.(*mp4.MoovBox).Trak.Mdia.Minf.Stbl.Stsd.AvcX.AvcC
	in := mp4.CreateEmptyInit()
	for _, kind := range kinds {
		switch kind {
		case "video":
			in.AddEmptyTrack(15360, "video", "und")
			if err := in.Moov.Traks[len(in.Moov.Traks)-1].SetAVCDescriptor(videoType, avcC.SPSnalus, avcC.PPSnalus, true); err != nil {
				t.Fatal(err)
			}
		case "audio":
			in.AddEmptyTrack(48000, "audio", "und")
			if err := in.Moov.Traks[len(in.Moov.Traks)-1].SetAACDescriptor(aot, 48000); err != nil {
				t.Fatal(err)
			}
		}
	}
	return encodeInit(t, in)
}

func TestParseInit(t *testing.T) {
	cmafVideo, _ := splitCMAF(t, "h264_cmaf.mp4")
	cmafAudio, _ := splitCMAF(t, "aac_cmaf.mp4")
	tests := []struct {
		name string
		data []byte
		want Init
	}{
		{"hls h264", read(t, "h264_init.mp4"), wantVideo},
		{"hls aac", read(t, "aac_init.mp4"), wantAudio},
		{"agent h264", cmafVideo, wantVideo},
		{"agent aac", cmafAudio, wantAudio},
		{"mp4ff avc3", builtInit(t, "avc3", 0, "video"), Init{Kind: KindVideo, Codec: "avc3.64000d", Timescale: 15360, TrackID: 1, Width: 320, Height: 240}},
		{"mp4ff aac", builtInit(t, "", aac.AAClc, "audio"), wantAudio},
		{"free box after moov", append(read(t, "aac_init.mp4"), box("free", []byte("padding"))...), wantAudio},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseInit(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseInit = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseInitRefuses(t *testing.T) {
	h264 := read(t, "h264_init.mp4")
	aacInit := read(t, "aac_init.mp4")
	dref := []string{"moov", "trak", "mdia", "minf", "dinf", "dref"}
	url := append(dref[:len(dref):len(dref)], "url ")
	asc := bytes.Index(aacInit, []byte{0x11, 0x88, 0x56, 0xe5, 0x00})
	if asc < 0 {
		t.Fatal("AudioSpecificConfig not found in aac_init.mp4")
	}
	sbr := bytes.Clone(aacInit)
	sbr[asc+4] = 0x80 // the sync extension's sbrPresentFlag
	whole := read(t, "h264_cmaf.mp4")
	tests := []struct {
		name string
		data []byte
		want error
		why  string // in the error text
	}{
		{"empty", nil, ErrInvalid, "empty"},
		{"garbage", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), ErrInvalid, "not MP4"},
		{"text", []byte("#EXTM3U\n#EXT-X-VERSION:7\n"), ErrInvalid, "not MP4"},
		{"truncated", h264[:500], ErrInvalid, "truncated"},
		{"truncated header", h264[:30], ErrInvalid, "truncated"},
		{"ftyp only", h264[:28], ErrInvalid, "no moov"},
		{"moov first", h264[28:], ErrInvalid, "want ftyp"},
		{"too large", append(bytes.Clone(h264), box("free", make([]byte, MaxInitSize))...), ErrInvalid, "exceeds"},
		{"media segment", read(t, "h264_seg0.m4s"), ErrInvalid, "want ftyp"},
		{"whole file with media", whole, ErrInvalid, "media belongs in media segments"},
		{"hevc", read(t, "hevc_init.mp4"), ErrUnsupportedCodec, "hvc1"},
		{"vp9", read(t, "vp9_init.mp4"), ErrUnsupportedCodec, "vp09"},
		{"he-aac explicit", builtInit(t, "", aac.HEAACv1, "audio"), ErrUnsupportedCodec, "object type 5"},
		{"he-aac implicit", sbr, ErrUnsupportedCodec, "HE-AAC"},
		{"two tracks", builtInit(t, "avc1", aac.AAClc, "video", "audio"), ErrInvalid, "2 tracks"},
		{"two video tracks", builtInit(t, "avc1", 0, "video", "video"), ErrInvalid, "2 tracks"},
		{"external url", replace(t, h264, fullBox("url ", 0, 0, []byte("http://example.com/media.mp4\x00")), url...),
			ErrInvalid, "self-contained"},
		{"url flag cleared", patch(t, h264, 11, []byte{0}, url...), ErrInvalid, "self-contained"},
		{"urn entry", replace(t, h264, fullBox("urn ", 0, 0, []byte("urn:x\x00file:///etc/passwd\x00")), url...),
			ErrInvalid, "self-contained"},
		{"second entry external", replace(t, h264, fullBox("dref", 0, 0, u32(2), fullBox("url ", 0, 1),
			fullBox("url ", 0, 0, []byte("file:///etc/passwd\x00"))), dref...), ErrInvalid, "self-contained"},
		{"handler mismatch", patch(t, h264, 16, []byte("soun"), "moov", "trak", "mdia", "hdlr"), ErrInvalid, "want vide"},
		{"track id 0", patch(t, h264, 20, u32(0), "moov", "trak", "tkhd"), ErrInvalid, "track ID 0"},
		{"timescale 0", patch(t, h264, 20, u32(0), "moov", "trak", "mdia", "mdhd"), ErrInvalid, "timescale 0"},
		{"trex of another track", patch(t, h264, 12, u32(7), "moov", "mvex", "trex"), ErrInvalid, "no trex"},
		{"no mvex", replace(t, h264, box("free"), "moov", "mvex"), ErrInvalid, "not a fragmented"},
		{"width 0", patch(t, h264, 8+24, []byte{0, 0}, "moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1"),
			ErrInvalid, "video size"},
		{"samples in init", replace(t, h264, fullBox("stco", 0, 0, u32(1), u32(4096)), "moov", "trak", "mdia", "minf", "stbl", "stco"),
			ErrInvalid, "not empty"},
		{"unknown top-level box", append(bytes.Clone(h264), box("junk", []byte("x"))...), ErrInvalid, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseInit(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseInit error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("ParseInit error = %q, want it to say %q", err, tt.why)
			}
			if got != (Init{}) {
				t.Fatalf("ParseInit returned %+v with an error", got)
			}
		})
	}
}

func TestCheckCodec(t *testing.T) {
	avc3 := wantVideo
	avc3.Codec = "avc3.64000d"
	tests := []struct {
		name     string
		init     Init
		declared string
		ok       bool
	}{
		{"avc1 exact", wantVideo, "avc1.64000d", true},
		{"avc1 uppercase hex", wantVideo, "avc1.64000D", true},
		{"avc3 exact", avc3, "avc3.64000d", true},
		{"other level", wantVideo, "avc1.64001f", false},
		{"other profile", wantVideo, "avc1.42000d", false},
		{"other constraints", wantVideo, "avc1.64400d", false},
		{"avc3 declared for avc1", wantVideo, "avc3.64000d", false},
		{"avc1 declared for avc3", avc3, "avc1.64000d", false},
		{"uppercase sample entry", wantVideo, "AVC1.64000d", false},
		{"trailing junk", wantVideo, "avc1.64000d0", false},
		{"short", wantVideo, "avc1", false},
		{"empty", wantVideo, "", false},
		{"audio on video", wantVideo, "mp4a.40.2", false},
		{"aac-lc", wantAudio, "mp4a.40.2", true},
		{"he-aac declared", wantAudio, "mp4a.40.5", false},
		{"he-aacv2 declared", wantAudio, "mp4a.40.29", false},
		{"uppercase mp4a", wantAudio, "MP4A.40.2", false},
		{"video on audio", wantAudio, "avc1.64000d", false},
		{"hand-made init", Init{Kind: KindVideo}, "avc1.64000d", false},
		{"zero init", Init{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCodec(tt.init, tt.declared)
			if tt.ok && err != nil {
				t.Fatalf("CheckCodec = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrCodecMismatch) {
				t.Fatalf("CheckCodec = %v, want ErrCodecMismatch", err)
			}
		})
	}
}

func FuzzParseInit(f *testing.F) {
	for _, name := range []string{"h264_init.mp4", "aac_init.mp4", "hevc_init.mp4", "vp9_init.mp4"} {
		f.Add(read(f, name))
	}
	for _, name := range []string{"h264_tiny.mp4", "aac_tiny.mp4"} {
		in, frags := splitCMAF(f, name)
		f.Add(in)
		f.Add(append(bytes.Clone(in), frags[0]...))
	}
	f.Add(builtInit(f, "avc1", aac.AAClc, "video", "audio"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParseInit(data)
		if err != nil {
			if strings.Contains(err.Error(), "decoder failed") {
				t.Fatalf("mp4ff panicked: %v", err)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupportedCodec) {
				t.Fatalf("error of no sentinel: %v", err)
			}
			return
		}
		if in.check() != nil || in.Codec == "" {
			t.Fatalf("ParseInit accepted an inconsistent init %+v", in)
		}
		if err := CheckCodec(in, in.Codec); err != nil {
			t.Fatalf("init does not match its own codec: %v", err)
		}
	})
}
