package media

import (
	"encoding/binary"
	"slices"

	"github.com/Eyevinn/mp4ff/mp4"
)

// Sample flag bits (ISO/IEC 14496-12 8.8.3.1).
const sampleIsNonSync = 0x00010000

// Fragment describes a validated media segment.
type Fragment struct {
	// BaseTime is the decode time of the first sample, in the track's timescale (tfdt).
	BaseTime uint64
	// Duration is the sum of the sample durations, in the track's timescale.
	Duration uint64
	// Samples is the number of samples.
	Samples int
	// StartsWithKeyframe reports whether the first sample is a sync sample; ParseFragment
	// requires it of video, where it is also an IDR picture.
	StartsWithKeyframe bool
	// Size is the segment's length in bytes.
	Size int
}

// ParseFragment parses and validates a CMAF media segment of the track that init describes:
// optionally styp, sidx and prft boxes, then one or more moof+mdat pairs in which every
// traf is of init's track, every trun's samples lie inside the mdat that follows and
// together fill it, and decode times run on without gaps. For video the first sample must
// be a sync sample holding an IDR picture, and every sample must be well-formed
// length-prefixed NAL units; for audio every sample must be a sync sample. It returns
// ErrInvalid with the reason for anything it refuses.
func ParseFragment(init Init, data []byte) (Fragment, error) {
	if err := init.check(); err != nil {
		return Fragment{}, err
	}
	if len(data) == 0 {
		return Fragment{}, invalid("empty media segment")
	}
	if len(data) > MaxFragmentSize {
		return Fragment{}, invalid("media segment of %d bytes exceeds the limit of %d", len(data), MaxFragmentSize)
	}
	boxes, err := topBoxes(data)
	if err != nil {
		return Fragment{}, err
	}
	i := 0
	for ; i < len(boxes) && boxes[i].typ != "moof"; i++ {
		s := boxes[i]
		switch s.typ {
		case "styp":
			if i != 0 {
				return Fragment{}, invalid("styp box at offset %d is not first", s.start)
			}
		case "sidx", "prft", "free", "skip":
		case "mdat":
			return Fragment{}, invalid("mdat box at offset %d before any moof", s.start)
		case "ftyp", "moov":
			return Fragment{}, invalid("%q box at offset %d: an init segment, not a media segment", s.typ, s.start)
		default:
			return Fragment{}, invalid("unexpected %q box at offset %d before the first moof", s.typ, s.start)
		}
		if _, err := decode(data, s); err != nil {
			return Fragment{}, err
		}
	}
	if i == len(boxes) {
		return Fragment{}, invalid("media segment has no moof box")
	}
	p := fragmentParser{init: init, data: data}
	for ; i < len(boxes); i += 2 {
		moof := boxes[i]
		if moof.typ != "moof" {
			return Fragment{}, invalid("unexpected %q box at offset %d, want moof", moof.typ, moof.start)
		}
		if i+1 == len(boxes) || boxes[i+1].typ != "mdat" {
			return Fragment{}, invalid("moof at offset %d without the mdat that must follow it", moof.start)
		}
		if err := p.pair(moof, boxes[i+1]); err != nil {
			return Fragment{}, err
		}
	}
	f := p.frag
	f.Size = len(data)
	if f.Duration == 0 {
		return Fragment{}, invalid("media segment has zero duration")
	}
	if f.Duration > uint64(MaxDurationSeconds)*uint64(init.Timescale) {
		return Fragment{}, invalid("media segment lasts %d ticks at %d/s, over the limit of %d s",
			f.Duration, init.Timescale, MaxDurationSeconds)
	}
	return f, nil
}

// check refuses an Init that ParseInit would not have returned.
func (in Init) check() error {
	if in.Kind != KindVideo && in.Kind != KindAudio {
		return invalid("init kind %q, want video or audio (use ParseInit)", in.Kind)
	}
	if in.TrackID == 0 || in.Timescale == 0 {
		return invalid("init without track ID or timescale (use ParseInit)")
	}
	return nil
}

// fragmentParser walks the moof+mdat pairs of one segment.
type fragmentParser struct {
	init Init
	data []byte
	frag Fragment
	next uint64 // decode time the next traf must start at, once started
}

// pair validates one moof and the mdat after it.
func (p *fragmentParser) pair(moofSpan, mdat span) error {
	b, err := decode(p.data, moofSpan)
	if err != nil {
		return err
	}
	moof, ok := b.(*mp4.MoofBox)
	if !ok {
		return invalid("moof box at offset %d did not decode as moof", moofSpan.start)
	}
	for _, c := range moof.Children {
		switch c.(type) {
		case *mp4.MfhdBox, *mp4.TrafBox:
		default:
			return invalid("moof at offset %d holds a %q box", moofSpan.start, c.Type())
		}
	}
	if moof.Mfhd == nil {
		return invalid("moof at offset %d without mfhd", moofSpan.start)
	}
	if len(moof.Trafs) == 0 {
		return invalid("moof at offset %d without traf", moofSpan.start)
	}
	payloadStart, payloadEnd := mdat.payload()
	var ranges [][2]int
	for _, traf := range moof.Trafs {
		r, err := p.traf(traf, moofSpan.start, payloadStart, payloadEnd)
		if err != nil {
			return err
		}
		ranges = append(ranges, r...)
	}
	// Every sample lies inside the mdat; now they must not overlap and must fill it.
	slices.SortFunc(ranges, func(a, b [2]int) int { return a[0] - b[0] })
	at := payloadStart
	for _, r := range ranges {
		if r[0] < at {
			return invalid("samples overlap at offset %d in mdat at offset %d", r[0], mdat.start)
		}
		if r[0] > at {
			return invalid("%d bytes at offset %d in mdat at offset %d belong to no sample", r[0]-at, at, mdat.start)
		}
		at = r[1]
	}
	if at != payloadEnd {
		return invalid("%d bytes at the end of mdat at offset %d belong to no sample", payloadEnd-at, mdat.start)
	}
	return nil
}

// traf validates one track fragment and returns the byte ranges of its truns' samples.
func (p *fragmentParser) traf(traf *mp4.TrafBox, moofStart, mdatStart, mdatEnd int) ([][2]int, error) {
	for _, c := range traf.Children {
		switch c.Type() {
		case "tfhd", "tfdt", "trun", "sdtp", "sbgp", "sgpd", "subs":
		case "senc", "saiz", "saio":
			return nil, invalid("traf holds a %q box: encrypted samples are not accepted", c.Type())
		default:
			return nil, invalid("traf holds a %q box", c.Type())
		}
	}
	tfhd, tfdt := traf.Tfhd, traf.Tfdt
	switch {
	case tfhd == nil:
		return nil, invalid("traf without tfhd")
	case tfhd.TrackID != p.init.TrackID:
		return nil, invalid("fragment of track %d, but the init segment's track is %d", tfhd.TrackID, p.init.TrackID)
	case tfhd.HasBaseDataOffset():
		return nil, invalid("tfhd with an explicit base data offset; want default-base-is-moof (CMAF)")
	case !tfhd.DefaultBaseIfMoof():
		return nil, invalid("tfhd without default-base-is-moof (CMAF)")
	case tfhd.DurationIsEmpty():
		return nil, invalid("tfhd marks the fragment duration-is-empty")
	case tfhd.HasSampleDescriptionIndex() && tfhd.SampleDescriptionIndex != 1:
		return nil, invalid("tfhd sample description index %d, want 1", tfhd.SampleDescriptionIndex)
	case tfdt == nil:
		return nil, invalid("traf without tfdt")
	case len(traf.Truns) == 0:
		return nil, invalid("traf without trun")
	}
	base := tfdt.BaseMediaDecodeTime()
	if base >= 1<<63 {
		return nil, invalid("track fragment starts at decode time %d, negative as a signed number", base)
	}
	if p.frag.Samples == 0 {
		p.frag.BaseTime = base
	} else if base != p.next {
		return nil, invalid("track fragment starts at decode time %d, want %d (gap or overlap)", base, p.next)
	}

	defDur, defSize, defFlags := p.init.DefaultSampleDuration, p.init.DefaultSampleSize, p.init.DefaultSampleFlags
	if tfhd.HasDefaultSampleDuration() {
		defDur = tfhd.DefaultSampleDuration
	}
	if tfhd.HasDefaultSampleSize() {
		defSize = tfhd.DefaultSampleSize
	}
	if tfhd.HasDefaultSampleFlags() {
		defFlags = tfhd.DefaultSampleFlags
	}

	var ranges [][2]int
	for _, trun := range traf.Truns {
		n := len(trun.Samples)
		switch {
		case n == 0:
			return nil, invalid("trun with sample count 0")
		case p.frag.Samples+n > MaxSamples:
			return nil, invalid("more than %d samples in one media segment", MaxSamples)
		case !trun.HasDataOffset():
			return nil, invalid("trun without data offset")
		case trun.DataOffset < 0:
			return nil, invalid("trun with negative data offset %d", trun.DataOffset)
		}
		// First the trun's place in the mdat, then the samples' contents, so a misplaced
		// trun is reported as such rather than as garbled samples.
		start := moofStart + int(trun.DataOffset)
		firstFlags, hasFirstFlags := trun.FirstSampleFlags()
		sizes := make([]uint32, n)
		var total uint64
		for j, s := range trun.Samples {
			sizes[j] = defSize
			if trun.HasSampleSize() {
				sizes[j] = s.Size
			}
			if sizes[j] == 0 {
				return nil, invalid("sample %d has size 0", p.frag.Samples+j)
			}
			total += uint64(sizes[j])
		}
		if start < mdatStart || uint64(start)+total > uint64(mdatEnd) {
			return nil, invalid("trun's %d bytes of samples at offset %d lie outside the mdat (offsets %d to %d)",
				total, start, mdatStart, mdatEnd)
		}
		at := start
		for j, s := range trun.Samples {
			dur, flags := defDur, defFlags
			if trun.HasSampleDuration() {
				dur = s.Dur
			}
			switch {
			case trun.HasSampleFlags():
				flags = s.Flags
			case j == 0 && hasFirstFlags:
				flags = firstFlags
			}
			end := at + int(sizes[j])
			if err := p.sample(p.data[at:end], flags&sampleIsNonSync == 0); err != nil {
				return nil, err
			}
			p.frag.Samples++
			p.frag.Duration += uint64(dur)
			at = end
		}
		ranges = append(ranges, [2]int{start, at})
	}
	p.next = p.frag.BaseTime + p.frag.Duration
	return ranges, nil
}

// sample checks one sample's flags and, for video, its NAL unit framing.
func (p *fragmentParser) sample(sample []byte, sync bool) error {
	nr := p.frag.Samples
	if p.init.Kind == KindAudio {
		if !sync {
			return invalid("audio sample %d is not a sync sample (is this a video segment?)", nr)
		}
		if nr == 0 {
			p.frag.StartsWithKeyframe = true
		}
		return nil
	}
	idr, err := nalUnits(sample)
	if err != nil {
		return invalid("video sample %d: %v (is this an audio segment?)", nr, err)
	}
	if nr == 0 {
		if !sync {
			return invalid("video segment does not start with a sync sample")
		}
		if !idr {
			return invalid("video segment's first sample holds no IDR picture")
		}
		p.frag.StartsWithKeyframe = true
	}
	return nil
}

// nalUnits walks the 4-byte length-prefixed NAL units of one H.264 sample (mp4ff, like
// FFmpeg, takes only 4-byte lengths in avcC) and reports whether one is an IDR slice.
func nalUnits(sample []byte) (idr bool, err error) {
	for rest := sample; len(rest) > 0; {
		if len(rest) < 4 {
			return false, errorString("NAL unit length cut short")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if n == 0 || uint64(n) > uint64(len(rest)) {
			return false, errorString("NAL unit length does not fit the sample")
		}
		if rest[0]&0x80 != 0 {
			return false, errorString("NAL unit with forbidden_zero_bit set")
		}
		if rest[0]&0x1f == 5 {
			idr = true
		}
		rest = rest[n:]
	}
	return idr, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }
