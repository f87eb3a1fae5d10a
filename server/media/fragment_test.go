package media

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseFragment(t *testing.T) {
	h264, aacInit := mustInit(t, read(t, "h264_init.mp4")), mustInit(t, read(t, "aac_init.mp4"))
	cmafVideoInit, videoFrags := splitCMAF(t, "h264_cmaf.mp4")
	cmafAudioInit, audioFrags := splitCMAF(t, "aac_cmaf.mp4")
	cmafVideo, cmafAudio := mustInit(t, cmafVideoInit), mustInit(t, cmafAudioInit)
	withDefaults := aacInit
	withDefaults.DefaultSampleDuration, withDefaults.DefaultSampleSize = 1024, 6
	seg := func(name string) []byte { return read(t, name) }
	tests := []struct {
		name string
		init Init
		data []byte
		want Fragment
	}{
		{"hls h264 seg0", h264, seg("h264_seg0.m4s"), Fragment{0, 30720, 60, true, 0}},
		{"hls h264 seg1", h264, seg("h264_seg1.m4s"), Fragment{30720, 30720, 60, true, 0}},
		{"hls aac seg0", aacInit, seg("aac_seg0.m4s"), Fragment{0, 96256, 94, true, 0}},
		{"agent h264 fragment", cmafVideo, videoFrags[0], Fragment{328, 30720, 60, true, 0}},
		{"agent h264 two fragments", cmafVideo, bytes.Join(videoFrags, nil), Fragment{328, 61440, 120, true, 0}},
		{"agent aac fragment", cmafAudio, audioFrags[1], Fragment{96256, 96256, 94, true, 0}},
		{"synthetic video", h264, synth{samples: videoSamples(3)}.bytes(), Fragment{0, 1536, 3, true, 0}},
		{"first-sample-flags over non-sync default", h264, synth{
			tfhdFlags: 0x020020, tfhdFields: u32(nonSyncFlags), trunFlags: 0x305, firstFlags: syncFlags,
			samples: videoSamples(2)}.bytes(), Fragment{0, 1024, 2, true, 0}},
		{"trex defaults", withDefaults, synth{trunFlags: 0x1, samples: audioSamples(4)}.bytes(), Fragment{0, 4096, 4, true, 0}},
		{"prft and free before moof", aacInit, append(append(box("free"), fullBox("prft", 1, 0, u32(1), u64(0), u64(0))...),
			synth{samples: audioSamples(2)}.bytes()...), Fragment{0, 2048, 2, true, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFragment(tt.init, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Size = len(tt.data)
			if got != want {
				t.Fatalf("ParseFragment = %+v, want %+v", got, want)
			}
		})
	}
}

func TestParseFragmentRefuses(t *testing.T) {
	h264, aacInit := mustInit(t, read(t, "h264_init.mp4")), mustInit(t, read(t, "aac_init.mp4"))
	cmafVideoInit, videoFrags := splitCMAF(t, "h264_cmaf.mp4")
	cmafVideo := mustInit(t, cmafVideoInit)
	seg0, aacSeg := read(t, "h264_seg0.m4s"), read(t, "aac_seg0.m4s")
	mdat := find(t, seg0, "mdat")[0]
	traf := []string{"moof", "traf"}
	gap := bytes.Clone(videoFrags[1])
	gap = patch(t, gap, 12, u64(328+30720+1), "moof", "traf", "tfdt")
	video := func(s synth) []byte {
		if s.samples == nil {
			s.samples = videoSamples(3)
		}
		return s.bytes()
	}
	tests := []struct {
		name string
		init Init
		data []byte
		why  string // in the error text
	}{
		{"empty", h264, nil, "empty"},
		{"garbage", h264, []byte("\x00\x01\x02\x03\xff\xfe\xfd\xfc garbage garbage"), "not MP4"},
		{"json", h264, []byte(`{"id":"x"}`), "truncated"},
		{"too large", h264, make([]byte, MaxFragmentSize+1), "exceeds"},
		{"truncated", h264, seg0[:len(seg0)/2], "truncated"},
		{"truncated by one byte", h264, seg0[:len(seg0)-1], "truncated"},
		{"moof without mdat", h264, seg0[:mdat], "without the mdat"},
		{"mdat before moof", h264, append(box("mdat", []byte("x")), seg0...), "before any moof"},
		{"no moof", h264, seg0[:mdat-344], "no moof"},
		{"init as fragment", h264, read(t, "h264_init.mp4"), "init segment"},
		{"other track", h264, patch(t, seg0, 12, u32(2), "moof", "traf", "tfhd"), "track 2"},
		{"video segment under audio init", aacInit, seg0, "not a sync sample"},
		{"audio segment under video init", h264, aacSeg, "NAL unit"},
		{"hevc segment under h264 init", h264, read(t, "hevc_seg0.m4s"), "IDR"},
		{"agent video under audio init", aacInit, videoFrags[0], "not a sync sample"},
		{"gap between fragments", cmafVideo, append(bytes.Clone(videoFrags[0]), gap...), "gap or overlap"},
		{"second fragment first", cmafVideo, append(bytes.Clone(videoFrags[1]), videoFrags[0]...), "gap or overlap"},
		{"emsg before moof", h264, append(fullBox("emsg", 0, 0, []byte("urn:x\x00\x00")), seg0...), "unexpected \"emsg\""},
		{"styp not first", h264, append(box("free"), seg0...), "not first"},
		{"junk after mdat", h264, append(bytes.Clone(seg0), box("junk")...), "want moof"},
		{"encrypted", h264, video(synth{extraTraf: fullBox("senc", 0, 0, u32(0))}), "encrypted"},
		{"unknown traf box", h264, video(synth{extraTraf: box("uuid", make([]byte, 16))}), "traf holds"},
		{"sample count 0", h264, synth{samples: []sample{}}.bytes(), "sample count 0"},
		{"first sample not sync", h264, video(synth{samples: []sample{{512, nonSyncFlags, idr}}}), "sync sample"},
		{"first sample no IDR", h264, video(synth{samples: []sample{{512, syncFlags, nonIDR}}}), "no IDR"},
		{"NAL length past sample", h264, video(synth{samples: []sample{{512, syncFlags, idr}, {512, nonSyncFlags, append(u32(99), 0x41)}}}), "NAL unit length"},
		{"NAL forbidden bit", h264, video(synth{samples: []sample{{512, syncFlags, idr}, {512, nonSyncFlags, nal(0xc1, 4)}}}), "forbidden"},
		{"zero-size sample", h264, video(synth{samples: []sample{{512, syncFlags, idr}, {512, nonSyncFlags, nil}}}), "size 0"},
		{"base data offset", h264, video(synth{tfhdFlags: 0x000001, tfhdFields: u64(0)}), "base data offset"},
		{"no default-base-is-moof", h264, video(synth{tfhdFlags: 0x000008, tfhdFields: u32(512)}), "default-base-is-moof"},
		{"duration is empty", h264, video(synth{tfhdFlags: 0x030000}), "duration-is-empty"},
		{"sample description 2", h264, video(synth{tfhdFlags: 0x020002, tfhdFields: u32(2)}), "description index 2"},
		{"no tfdt", h264, video(synth{noTfdt: true}), "without tfdt"},
		{"negative decode time", h264, video(synth{baseTime: 1<<64 - 1024}), "negative"},
		{"no data offset", h264, video(synth{trunFlags: 0x700}), "without data offset"},
		{"negative data offset", h264, video(synth{offset: -1 << 20}), "negative data offset"},
		{"data offset into moof", h264, video(synth{offset: -8}), "outside the mdat"},
		{"samples past mdat", h264, video(synth{offset: 4}), "outside the mdat"},
		{"bytes left in mdat", h264, video(synth{mdatExtra: []byte("hidden")}), "belong to no sample"},
		{"sizes over mdat", h264, patch(t, seg0, 8+4+4+4+4, u32(1<<20), append(traf, "trun")...), "outside the mdat"},
		{"zero duration", aacInit, synth{samples: []sample{{0, 0, []byte{1}}}}.bytes(), "zero duration"},
		{"too long", aacInit, synth{samples: []sample{{61 * 48000, 0, []byte{1}}}}.bytes(), "over the limit"},
		{"too many samples", aacInit, synth{samples: func() []sample {
			s := make([]sample, MaxSamples+1)
			for i := range s {
				s[i] = sample{1, 0, []byte{1}}
			}
			return s
		}()}.bytes(), "more than"},
		{"hand-made init", Init{Kind: KindVideo}, seg0, "use ParseInit"},
		{"init of unknown kind", Init{Kind: "subtitle", TrackID: 1, Timescale: 1000}, seg0, "use ParseInit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFragment(tt.init, tt.data)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseFragment error = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("ParseFragment error = %q, want it to say %q", err, tt.why)
			}
			if got != (Fragment{}) {
				t.Fatalf("ParseFragment returned %+v with an error", got)
			}
		})
	}
}

// FuzzParseFragment seeds from tiny real files: Go's fuzzer minimizes each new input for up
// to a minute, which stalls it on segments of tens of KB.
func FuzzParseFragment(f *testing.F) {
	videoInit, video := splitCMAF(f, "h264_tiny.mp4")
	audioInit, audio := splitCMAF(f, "aac_tiny.mp4")
	inits := []Init{mustInit(f, videoInit), mustInit(f, audioInit)}
	f.Add(false, video[0])
	f.Add(false, bytes.Join(video, nil))
	f.Add(false, read(f, "hevc_seg0.m4s"))
	f.Add(true, audio[0])
	f.Add(true, bytes.Join(audio, nil))
	f.Add(false, synth{samples: videoSamples(3)}.bytes())
	f.Add(true, synth{samples: audioSamples(3)}.bytes())
	f.Add(false, []byte{})
	f.Fuzz(func(t *testing.T, isAudio bool, data []byte) {
		in := inits[0]
		if isAudio {
			in = inits[1]
		}
		frag, err := ParseFragment(in, data)
		if err != nil {
			if strings.Contains(err.Error(), "decoder failed") {
				t.Fatalf("mp4ff panicked: %v", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error of no sentinel: %v", err)
			}
			return
		}
		if frag.Samples <= 0 || frag.Samples > MaxSamples || frag.Duration == 0 || frag.Size != len(data) {
			t.Fatalf("ParseFragment accepted an inconsistent fragment %+v", frag)
		}
		if !isAudio && !frag.StartsWithKeyframe {
			t.Fatal("video fragment accepted without a keyframe first")
		}
	})
}

func TestTinySeeds(t *testing.T) {
	for _, name := range []string{"h264_tiny.mp4", "aac_tiny.mp4"} {
		t.Run(name, func(t *testing.T) {
			in, frags := splitCMAF(t, name)
			init := mustInit(t, in)
			for _, data := range append(frags, bytes.Join(frags, nil)) {
				if _, err := ParseFragment(init, data); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
