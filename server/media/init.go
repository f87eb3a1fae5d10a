package media

import (
	"bytes"
	"fmt"

	"github.com/Eyevinn/mp4ff/aac"
	"github.com/Eyevinn/mp4ff/mp4"
)

// Track kinds of an Init.
const (
	KindVideo = "video"
	KindAudio = "audio"
)

// Init describes the one track of a CMAF init segment, as ParseInit found it.
type Init struct {
	// Kind is KindVideo or KindAudio.
	Kind string
	// Codec is the RFC 6381 codec string: "avc1.PPCCLL" (or avc3) from the avcC box, or
	// "mp4a.40.2".
	Codec string
	// Timescale is the track's media timescale (ticks per second).
	Timescale uint32
	// TrackID is the track's ID, which every fragment must carry.
	TrackID uint32
	// Width and Height are the video's coded size in pixels; zero for audio.
	Width, Height int
	// DefaultSampleDuration, DefaultSampleSize and DefaultSampleFlags are the track's trex
	// defaults, which fragments may rely on.
	DefaultSampleDuration, DefaultSampleSize, DefaultSampleFlags uint32
}

// ParseInit parses and validates a CMAF init segment: ftyp then one moov (free and skip
// boxes aside) with exactly one track, fragmented (mvex with the track's trex), holding no
// samples, referring to no other file, and coded as H.264 (avc1/avc3) or AAC-LC (mp4a).
// It returns ErrUnsupportedCodec for a well-formed track of another codec, and ErrInvalid
// with the reason for anything else it refuses.
func ParseInit(data []byte) (Init, error) {
	if len(data) == 0 {
		return Init{}, invalid("empty init segment")
	}
	if len(data) > MaxInitSize {
		return Init{}, invalid("init segment of %d bytes exceeds the limit of %d", len(data), MaxInitSize)
	}
	boxes, err := topBoxes(data)
	if err != nil {
		return Init{}, err
	}
	if boxes[0].typ != "ftyp" {
		return Init{}, invalid("init segment starts with %q, want ftyp", boxes[0].typ)
	}
	var moov *mp4.MoovBox
	for _, s := range boxes[1:] {
		switch s.typ {
		case "moov":
			if moov != nil {
				return Init{}, invalid("second moov box at offset %d", s.start)
			}
			b, err := decode(data, s)
			if err != nil {
				return Init{}, err
			}
			var ok bool
			if moov, ok = b.(*mp4.MoovBox); !ok {
				return Init{}, invalid("moov box at offset %d did not decode as moov", s.start)
			}
		case "free", "skip":
		case "moof", "mdat", "sidx", "styp":
			return Init{}, invalid("init segment holds a %q box at offset %d: media belongs in media segments", s.typ, s.start)
		default:
			return Init{}, invalid("unexpected %q box at offset %d in init segment", s.typ, s.start)
		}
	}
	if moov == nil {
		return Init{}, invalid("init segment has no moov box")
	}
	if _, err := decode(data, boxes[0]); err != nil {
		return Init{}, err
	}
	if err := checkReferences(moov); err != nil {
		return Init{}, err
	}
	return parseMoov(moov)
}

func parseMoov(moov *mp4.MoovBox) (Init, error) {
	if n := len(moov.Traks); n != 1 {
		return Init{}, invalid("init segment has %d tracks, want 1", n)
	}
	trak := moov.Traks[0]
	if trak.Tkhd == nil || trak.Mdia == nil || trak.Mdia.Mdhd == nil || trak.Mdia.Hdlr == nil ||
		trak.Mdia.Minf == nil || trak.Mdia.Minf.Stbl == nil || trak.Mdia.Minf.Stbl.Stsd == nil ||
		trak.Mdia.Minf.Dinf == nil || trak.Mdia.Minf.Dinf.Dref == nil {
		return Init{}, invalid("track lacks one of tkhd, mdhd, hdlr, dref, stsd")
	}
	in := Init{TrackID: trak.Tkhd.TrackID, Timescale: trak.Mdia.Mdhd.Timescale}
	if in.TrackID == 0 {
		return Init{}, invalid("track ID 0")
	}
	if in.Timescale == 0 {
		return Init{}, invalid("track timescale 0")
	}
	if moov.Mvex == nil {
		return Init{}, invalid("no mvex box: not a fragmented MP4")
	}
	var trex *mp4.TrexBox
	for _, t := range moov.Mvex.Trexs {
		if t.TrackID == in.TrackID {
			trex = t
		}
	}
	if trex == nil {
		return Init{}, invalid("no trex for track %d", in.TrackID)
	}
	if trex.DefaultSampleDescriptionIndex != 1 {
		return Init{}, invalid("trex sample description index %d, want 1", trex.DefaultSampleDescriptionIndex)
	}
	in.DefaultSampleDuration = trex.DefaultSampleDuration
	in.DefaultSampleSize = trex.DefaultSampleSize
	in.DefaultSampleFlags = trex.DefaultSampleFlags

	stbl := trak.Mdia.Minf.Stbl
	if (stbl.Stsz != nil && stbl.Stsz.SampleNumber != 0) || (stbl.Stts != nil && len(stbl.Stts.SampleCount) != 0) ||
		(stbl.Stco != nil && len(stbl.Stco.ChunkOffset) != 0) || (stbl.Co64 != nil && len(stbl.Co64.ChunkOffset) != 0) {
		return Init{}, invalid("init segment's sample tables are not empty: samples belong in fragments")
	}
	stsd := stbl.Stsd
	if n := len(stsd.Children); n != 1 {
		return Init{}, invalid("track has %d sample descriptions, want 1", n)
	}
	handler := trak.Mdia.Hdlr.HandlerType
	switch entry := stsd.Children[0].(type) {
	case *mp4.VisualSampleEntryBox:
		if err := video(&in, entry, handler); err != nil {
			return Init{}, err
		}
	case *mp4.AudioSampleEntryBox:
		if err := audio(&in, entry, handler); err != nil {
			return Init{}, err
		}
	default:
		return Init{}, fmt.Errorf("%w: sample entry %q", ErrUnsupportedCodec, entry.Type())
	}
	return in, nil
}

// video fills in an H.264 track.
func video(in *Init, e *mp4.VisualSampleEntryBox, handler string) error {
	typ := e.Type()
	if typ != "avc1" && typ != "avc3" {
		return fmt.Errorf("%w: video sample entry %q, want avc1 or avc3 (H.264)", ErrUnsupportedCodec, typ)
	}
	if handler != "vide" {
		return invalid("%s sample entry in a %q track, want vide", typ, handler)
	}
	if e.DataReferenceIndex != 1 {
		return invalid("sample entry data reference index %d, want 1", e.DataReferenceIndex)
	}
	c := e.AvcC
	if c == nil {
		return invalid("%s sample entry without avcC", typ)
	}
	if typ == "avc1" && (len(c.SPSnalus) == 0 || len(c.PPSnalus) == 0) {
		return invalid("avc1 sample entry without SPS and PPS in avcC")
	}
	for _, sps := range c.SPSnalus {
		if len(sps) < 4 || sps[0]&0x1f != 7 {
			return invalid("avcC holds a malformed SPS")
		}
		if sps[1] != c.AVCProfileIndication || sps[2] != c.ProfileCompatibility || sps[3] != c.AVCLevelIndication {
			return invalid("avcC profile/level %02x%02x%02x differs from its SPS %02x%02x%02x",
				c.AVCProfileIndication, c.ProfileCompatibility, c.AVCLevelIndication, sps[1], sps[2], sps[3])
		}
	}
	for _, pps := range c.PPSnalus {
		if len(pps) < 2 || pps[0]&0x1f != 8 {
			return invalid("avcC holds a malformed PPS")
		}
	}
	in.Kind = KindVideo
	in.Codec = fmt.Sprintf("%s.%02x%02x%02x", typ, c.AVCProfileIndication, c.ProfileCompatibility, c.AVCLevelIndication)
	in.Width, in.Height = int(e.Width), int(e.Height)
	if in.Width == 0 || in.Height == 0 || in.Width > MaxDimension || in.Height > MaxDimension {
		return invalid("video size %dx%d outside 1..%d", in.Width, in.Height, MaxDimension)
	}
	return nil
}

// audio fills in an AAC-LC track.
func audio(in *Init, e *mp4.AudioSampleEntryBox, handler string) error {
	typ := e.Type()
	if typ != "mp4a" {
		return fmt.Errorf("%w: audio sample entry %q, want mp4a (AAC-LC)", ErrUnsupportedCodec, typ)
	}
	if handler != "soun" {
		return invalid("mp4a sample entry in a %q track, want soun", handler)
	}
	if e.DataReferenceIndex != 1 {
		return invalid("sample entry data reference index %d, want 1", e.DataReferenceIndex)
	}
	if e.Esds == nil || e.Esds.DecConfigDescriptor == nil {
		return invalid("mp4a sample entry without esds decoder config")
	}
	if e.Esds.URLString != "" || e.Esds.FlagsAndPriority&0x40 != 0 {
		return invalid("esds refers to a stream at a URL: media must be self-contained")
	}
	dc := e.Esds.DecConfigDescriptor
	if dc.ObjectType != 0x40 {
		return fmt.Errorf("%w: mp4a object type 0x%02x, want 0x40 (MPEG-4 audio)", ErrUnsupportedCodec, dc.ObjectType)
	}
	if dc.DecSpecificInfo == nil || len(dc.DecSpecificInfo.DecConfig) < 2 {
		return invalid("mp4a without an AudioSpecificConfig")
	}
	asc := dc.DecSpecificInfo.DecConfig
	// The first five bits are the audio object type; HE-AAC signalled explicitly says 5 or
	// 29 here, and decoders would then play it as HE-AAC.
	if aot := asc[0] >> 3; aot != aac.AAClc {
		return fmt.Errorf("%w: AAC audio object type %d, want 2 (AAC-LC)", ErrUnsupportedCodec, aot)
	}
	cfg, err := aac.DecodeAudioSpecificConfig(bytes.NewReader(asc))
	if err != nil {
		return invalid("AudioSpecificConfig: %v", err)
	}
	if cfg.ChannelConfiguration == 0 || cfg.ChannelConfiguration > 7 {
		return invalid("AAC channel configuration %d, want 1..7", cfg.ChannelConfiguration)
	}
	if implicitSBR(asc) {
		return fmt.Errorf("%w: HE-AAC (SBR signalled in the AudioSpecificConfig's extension), want AAC-LC", ErrUnsupportedCodec)
	}
	in.Kind = KindAudio
	in.Codec = "mp4a.40.2"
	return nil
}

// checkReferences walks the whole moov and refuses any data reference other than "this
// file", wherever it sits (a track's dinf, or a meta box's).
func checkReferences(b mp4.Box) error {
	var children []mp4.Box
	switch b := b.(type) {
	case *mp4.DrefBox:
		if len(b.Children) == 0 {
			return invalid("data reference box without entries")
		}
		for _, e := range b.Children {
			url, ok := e.(*mp4.URLBox)
			if !ok {
				return invalid("data reference of type %q: media must be self-contained", e.Type())
			}
			if url.Flags&1 == 0 || url.Location != "" {
				return invalid("data reference to %q: media must be self-contained", url.Location)
			}
		}
		return nil
	case *mp4.StsdBox:
		children = b.Children
	case *mp4.VisualSampleEntryBox:
		children = b.Children
	case *mp4.AudioSampleEntryBox:
		children = b.Children
	case mp4.ContainerBox:
		children = b.GetChildren()
	}
	for _, c := range children {
		if err := checkReferences(c); err != nil {
			return err
		}
	}
	return nil
}

// implicitSBR reports whether an AAC-LC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) ends
// in a sync extension that says SBR is present: backward-compatible HE-AAC, which is not
// the AAC-LC that "mp4a.40.2" promises.
func implicitSBR(asc []byte) bool {
	r := bitReader{b: asc}
	r.read(5) // audioObjectType, 2
	if r.read(4) == 0xf {
		r.read(24) // explicit sampling frequency
	}
	r.read(4)           // channelConfiguration, 1..7
	r.read(1)           // frameLengthFlag
	if r.read(1) == 1 { // dependsOnCoreCoder
		r.read(14) // coreCoderDelay
	}
	r.read(1) // extensionFlag
	if r.left() < 16 || r.read(11) != 0x2b7 {
		return false
	}
	return r.read(5) == 5 && r.read(1) == 1
}

// bitReader reads big-endian bit fields, giving zeros past the end.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

func (r *bitReader) read(n int) uint32 {
	var v uint32
	for range n {
		v <<= 1
		if r.pos < len(r.b)*8 {
			v |= uint32(r.b[r.pos/8]>>(7-r.pos%8)) & 1
		}
		r.pos++
	}
	return v
}
