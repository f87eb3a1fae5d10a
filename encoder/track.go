package encoder

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
)

// Media is what a track carries.
type Media string

// The kinds of media a track carries.
const (
	MediaVideo Media = "video"
	MediaAudio Media = "audio"
)

// Config describes one output track. The zero value of each field means its default.
type Config struct {
	// Media is video or audio.
	Media Media
	// Width and Height of the encoded picture; 0 keeps the source size (rounded down to even).
	Width, Height int
	// FPS is the nominal frame rate the rate control plans for; 0 means 30.
	FPS int
	// Bitrate is the target bit rate in bits per second; 0 means a default for the size
	// (about 0.07 bit per pixel per frame for video, 128 kb/s for audio).
	Bitrate int64
	// Encoder names the H.264 encoder: "auto" (a working hardware encoder, else libx264),
	// "libx264", "h264_nvenc", "h264_qsv" or "h264_vaapi". Empty means auto.
	Encoder string
	// SegmentDuration is the target length of a media segment; 0 means 2 s. Video
	// segments start with an IDR frame forced at the first frame on or after each multiple.
	SegmentDuration time.Duration
	// SampleRate of the encoded audio; 0 means 48000, the only rate supported.
	SampleRate int
	// Channels of the encoded audio (1 or 2); 0 keeps the source's (more than two become stereo).
	Channels int
}

func (c Config) withDefaults() Config {
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.SegmentDuration == 0 {
		c.SegmentDuration = 2 * time.Second
	}
	if c.SampleRate == 0 {
		c.SampleRate = 48000
	}
	if c.Encoder == "" {
		c.Encoder = "auto"
	}
	return c
}

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Media != MediaVideo && c.Media != MediaAudio:
		return fmt.Errorf("media %q: want video or audio: %w", c.Media, ErrBadConfig)
	case c.Width < 0 || c.Height < 0 || c.Width%2 == 1 || c.Height%2 == 1:
		return fmt.Errorf("size %dx%d: want even, positive numbers: %w", c.Width, c.Height, ErrBadConfig)
	case c.FPS < 0 || c.FPS > 240:
		return fmt.Errorf("fps %d: want 1 to 240: %w", c.FPS, ErrBadConfig)
	case c.Bitrate < 0:
		return fmt.Errorf("bitrate %d: must not be negative: %w", c.Bitrate, ErrBadConfig)
	case c.SegmentDuration < 0 || (c.SegmentDuration > 0 && c.SegmentDuration < 500*time.Millisecond):
		return fmt.Errorf("segment duration %s: want at least 500ms: %w", c.SegmentDuration, ErrBadConfig)
	case c.SampleRate != 0 && c.SampleRate != 48000:
		// Lead leaves room for AAC's delay at 48 kHz only.
		return fmt.Errorf("sample rate %d: only 48000 is supported: %w", c.SampleRate, ErrBadConfig)
	case c.Channels < 0 || c.Channels > 2:
		return fmt.Errorf("channels %d: want 1 or 2: %w", c.Channels, ErrBadConfig)
	}
	switch c.Encoder {
	case "", "auto", "libx264", "h264_nvenc", "h264_qsv", "h264_vaapi":
	default:
		return fmt.Errorf("encoder %q: want auto, libx264, h264_nvenc, h264_qsv or h264_vaapi: %w", c.Encoder, ErrBadConfig)
	}
	return nil
}

// Lead is where the media timeline puts the recording's zero: AAC's encoder delay (1024
// samples at 48 kHz) must sit at or after media time 0, since a CMAF fragment's start
// (tfdt) cannot be negative. Every track adds it, so tracks stay aligned.
const Lead = 1024 * time.Second / 48000

// Segment is one CMAF media segment (moof+mdat) of a track.
type Segment struct {
	// Seq numbers the track's segments from 1.
	Seq int
	// Start is the first sample's time on the media timeline (recording time + Lead).
	Start time.Duration
	// Duration runs to the next segment's start (or the last sample's end).
	Duration time.Duration
	// Data is the segment's bytes.
	Data []byte
}

// Stats are counters a status display reads while the track runs.
type Stats struct {
	// Frames is how many frames went into the encoder.
	Frames int64
	// Bytes is how many media bytes came out (init segment included).
	Bytes int64
	// Segments is how many media segments were emitted.
	Segments int64
	// PeakDBFS is the audio peak since the previous Stats call, in dBFS (audio only).
	PeakDBFS float64
	// Encoder is the name of the encoder in use.
	Encoder string
}

// Track encodes one stream of frames into CMAF segments.
type Track struct {
	cfg  Config
	log  *slog.Logger
	emit func(Segment) error

	// Built at the first frame, when the input format is known.
	graph *astiav.FilterGraph
	src   *astiav.FilterContext
	sink  *astiav.FilterContext
	enc   *astiav.CodecContext
	frag  *fragmenter
	filt  *astiav.Frame
	pkt   *astiav.Packet
	in    inputFormat
	init  []byte
	codec string

	codecTB astiav.Rational
	// Audio: the timeline position of sample 0 and the samples written since.
	audioBase    time.Duration
	audioSamples int64
	audioStarted bool

	nextCut   time.Duration // next segment boundary on the timeline
	nextKey   time.Duration // next forced IDR on the timeline (runs ahead of nextCut by encoder delay)
	forceIDR  bool
	lastPTS   int64 // last video pts in codec time base, for monotonicity
	segSeq    int
	segStart  time.Duration
	segOpen   bool
	lastEnd   time.Duration // end of the last packet muxed
	closed    bool
	frames    atomic.Int64
	bytes     atomic.Int64
	segments  atomic.Int64
	peakBits  atomic.Uint64 // float64 bits of the running audio peak
	encoderID atomic.Value  // string
}

type inputFormat struct {
	width, height int
	pixFmt        astiav.PixelFormat
	sampleRate    int
	sampleFmt     astiav.SampleFormat
	layout        astiav.ChannelLayout
}

// NewTrack makes a track that emits each finished segment through emit. Nothing is opened
// until the first frame arrives.
func NewTrack(cfg Config, log *slog.Logger, emit func(Segment) error) (*Track, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Segments start on a grid at multiples of SegmentDuration of recording time.
	t := &Track{cfg: cfg, log: log, emit: emit, nextCut: Lead + cfg.SegmentDuration, nextKey: Lead + cfg.SegmentDuration, lastPTS: math.MinInt64}
	t.encoderID.Store("")
	return t, nil
}

// Init returns the track's init segment (ftyp+moov); nil before the first frame.
func (t *Track) Init() []byte { return t.init }

// Codec returns the RFC 6381 codec string of the track, known after the first frame.
func (t *Track) Codec() string { return t.codec }

// Stats returns the counters; the audio peak restarts at each call.
func (t *Track) Stats() Stats {
	peak := math.Float64frombits(t.peakBits.Swap(0))
	db := math.Inf(-1)
	if peak > 0 {
		db = 20 * math.Log10(peak)
	}
	return Stats{
		Frames:   t.frames.Load(),
		Bytes:    t.bytes.Load(),
		Segments: t.segments.Load(),
		PeakDBFS: db,
		Encoder:  t.encoderID.Load().(string),
	}
}

// ForceKeyframe makes the next video frame an IDR frame (after a pause, or when a live
// viewer joins). It does not cut a segment.
func (t *Track) ForceKeyframe() { t.forceIDR = true }

// WriteFrame encodes f, which belongs at pts on the recording timeline. Segments that
// complete are passed to emit before WriteFrame returns. f is only read.
func (t *Track) WriteFrame(f *astiav.Frame, pts time.Duration) error {
	if t.closed {
		return ErrClosed
	}
	if t.graph == nil {
		if err := t.open(f); err != nil {
			return err
		}
	} else if t.formatChanged(f) {
		return fmt.Errorf("input format changed mid-recording (%dx%d %s): %w", f.Width(), f.Height(), f.PixelFormat().Name(), ErrBadConfig)
	}
	var err error
	if t.cfg.Media == MediaVideo {
		err = t.writeVideo(f, pts+Lead)
	} else {
		err = t.writeAudio(f, pts+Lead)
	}
	if err != nil {
		return err
	}
	t.frames.Add(1)
	return t.drainFilter()
}

func (t *Track) writeVideo(f *astiav.Frame, pts time.Duration) error {
	p := durationToTS(pts, t.codecTB)
	if p <= t.lastPTS {
		// Two frames at one tick (a clock step or a jittery source): nudge rather than
		// hand the encoder a non-increasing time stamp.
		p = t.lastPTS + 1
	}
	t.lastPTS = p
	// Keep the source frame intact: the filter takes a reference.
	saved := f.Pts()
	f.SetPts(p)
	err := t.src.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef))
	f.SetPts(saved)
	if err != nil {
		return fmt.Errorf("filter video frame: %w", err)
	}
	return nil
}

func (t *Track) writeAudio(f *astiav.Frame, pts time.Duration) error {
	rate := f.SampleRate()
	if !t.audioStarted {
		t.audioBase, t.audioStarted = pts, true
	}
	expected := t.audioBase + time.Duration(t.audioSamples)*time.Second/time.Duration(rate)
	if d := pts - expected; d > 40*time.Millisecond || d < -40*time.Millisecond {
		// The device clock and the recording clock parted by more than a frame of video:
		// follow the recording clock so the tracks stay in sync.
		t.log.Debug("audio resync", "drift", d)
		t.audioBase, t.audioSamples = pts, 0
	}
	samplePTS := durationToTS(t.audioBase, astiav.NewRational(1, rate)) + t.audioSamples
	t.audioSamples += int64(f.NbSamples())
	saved := f.Pts()
	f.SetPts(samplePTS)
	err := t.src.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef))
	f.SetPts(saved)
	if err != nil {
		return fmt.Errorf("filter audio frame: %w", err)
	}
	return nil
}

// drainFilter moves every frame the filter graph has ready into the encoder.
func (t *Track) drainFilter() error {
	for {
		t.filt.Unref()
		err := t.sink.BuffersinkGetFrame(t.filt, astiav.NewBuffersinkFlags())
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read filtered frame: %w", err)
		}
		if err := t.encode(t.filt); err != nil {
			return err
		}
	}
}

func (t *Track) encode(f *astiav.Frame) error {
	if f != nil {
		if t.cfg.Media == MediaVideo {
			ts := tsToDuration(f.Pts(), t.codecTB)
			f.SetPictureType(astiav.PictureTypeNone)
			if ts >= t.nextKey || t.forceIDR {
				f.SetPictureType(astiav.PictureTypeI)
				t.forceIDR = false
				for ts >= t.nextKey {
					t.nextKey += t.cfg.SegmentDuration
				}
			}
		} else {
			t.notePeak(peakFLTP(f))
		}
	}
	if err := t.enc.SendFrame(f); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("encode frame: %w", err)
	}
	for {
		t.pkt.Unref()
		err := t.enc.ReceivePacket(t.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("receive encoded packet: %w", err)
		}
		if err := t.mux(t.pkt); err != nil {
			return err
		}
	}
}

// mux cuts a segment where one is due and adds the packet to the open one.
func (t *Track) mux(p *astiav.Packet) error {
	pts := tsToDuration(p.Pts(), t.codecTB)
	cut := pts >= t.nextCut
	if t.cfg.Media == MediaVideo {
		cut = cut && p.Flags().Has(astiav.PacketFlagKey)
	}
	if cut && t.segOpen {
		if err := t.cut(pts); err != nil {
			return err
		}
	}
	for pts >= t.nextCut {
		t.nextCut += t.cfg.SegmentDuration
	}
	if !t.segOpen {
		t.segOpen, t.segStart = true, pts
	}
	if p.Duration() <= 0 && t.cfg.Media == MediaVideo {
		p.SetDuration(durationToTS(time.Second/time.Duration(t.cfg.FPS), t.codecTB))
	}
	end := pts + tsToDuration(p.Duration(), t.codecTB)
	if end > t.lastEnd {
		t.lastEnd = end
	}
	p.RescaleTs(t.codecTB, t.frag.timeBase())
	return t.frag.write(p)
}

// cut closes the open segment, which ends where the next one starts.
func (t *Track) cut(next time.Duration) error {
	data, err := t.frag.flush()
	if err != nil {
		return err
	}
	t.segOpen = false
	if data == nil {
		return nil
	}
	t.segSeq++
	seg := Segment{Seq: t.segSeq, Start: t.segStart, Duration: next - t.segStart, Data: data}
	t.bytes.Add(int64(len(data)))
	t.segments.Add(1)
	if err := t.emit(seg); err != nil {
		return fmt.Errorf("store segment %d: %w", seg.Seq, err)
	}
	return nil
}

// Close flushes the filter and the encoder, emits the last segment and frees FFmpeg's
// objects. A track that never saw a frame emits nothing.
func (t *Track) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	defer t.free()
	if t.graph == nil {
		return nil
	}
	if err := t.src.BuffersrcAddFrame(nil, astiav.NewBuffersrcFlags()); err != nil {
		return fmt.Errorf("flush filter: %w", err)
	}
	if err := t.drainFilter(); err != nil {
		return err
	}
	if err := t.encode(nil); err != nil {
		return err
	}
	if t.segOpen {
		return t.cut(t.lastEnd)
	}
	return nil
}

// Abort frees the track without flushing: what was not emitted is dropped.
func (t *Track) Abort() {
	t.closed = true
	t.free()
}

func (t *Track) free() {
	if t.frag != nil {
		t.frag.free()
		t.frag = nil
	}
	if t.enc != nil {
		t.enc.Free()
		t.enc = nil
	}
	if t.graph != nil {
		t.graph.Free()
		t.graph = nil
	}
	if t.filt != nil {
		t.filt.Free()
		t.filt = nil
	}
	if t.pkt != nil {
		t.pkt.Free()
		t.pkt = nil
	}
}

func (t *Track) notePeak(p float64) {
	for {
		old := t.peakBits.Load()
		if math.Float64frombits(old) >= p || t.peakBits.CompareAndSwap(old, math.Float64bits(p)) {
			return
		}
	}
}

func (t *Track) formatChanged(f *astiav.Frame) bool {
	if t.cfg.Media == MediaVideo {
		return f.Width() != t.in.width || f.Height() != t.in.height || f.PixelFormat() != t.in.pixFmt
	}
	return f.SampleRate() != t.in.sampleRate || f.SampleFormat() != t.in.sampleFmt
}

// open builds filter graph, encoder and fragmenter for the first frame's format.
func (t *Track) open(f *astiav.Frame) error {
	t.filt = astiav.AllocFrame()
	t.pkt = astiav.AllocPacket()
	var err error
	if t.cfg.Media == MediaVideo {
		err = t.openVideo(f)
	} else {
		err = t.openAudio(f)
	}
	if err != nil {
		t.free()
		return err
	}
	t.frag, err = newFragmenter(t.enc)
	if err != nil {
		t.free()
		return err
	}
	t.init = t.frag.init
	t.codec = "mp4a.40.2"
	if t.cfg.Media == MediaVideo {
		t.codec = avcCodecString(t.enc.ExtraData())
	}
	t.bytes.Add(int64(len(t.init)))
	return nil
}

func (t *Track) openVideo(f *astiav.Frame) error {
	t.in = inputFormat{width: f.Width(), height: f.Height(), pixFmt: f.PixelFormat()}
	w, h := t.cfg.Width, t.cfg.Height
	if w == 0 || h == 0 {
		w, h = f.Width()&^1, f.Height()&^1
	}
	t.codecTB = astiav.NewRational(1, 90000)
	bitrate := t.cfg.Bitrate
	if bitrate == 0 {
		bitrate = int64(float64(w*h*t.cfg.FPS) * 0.07)
	}
	enc, name, pixFmt, err := openH264(t.cfg, w, h, bitrate, t.codecTB, t.log)
	if err != nil {
		return err
	}
	t.enc = enc
	t.encoderID.Store(name)
	chain := "format=" + pixFmt.Name()
	if w != f.Width() || h != f.Height() {
		chain = fmt.Sprintf("scale=%d:%d:flags=bicubic,setsar=1,", w, h) + chain
	}
	args := astiav.FilterArgs{
		"video_size":   strconv.Itoa(f.Width()) + "x" + strconv.Itoa(f.Height()),
		"pix_fmt":      strconv.Itoa(int(f.PixelFormat())),
		"time_base":    t.codecTB.String(),
		"pixel_aspect": "1/1",
	}
	return t.buildGraph("buffer", "buffersink", args, chain)
}

func (t *Track) openAudio(f *astiav.Frame) error {
	t.in = inputFormat{sampleRate: f.SampleRate(), sampleFmt: f.SampleFormat(), layout: f.ChannelLayout()}
	channels := t.cfg.Channels
	if channels == 0 {
		channels = min(f.ChannelLayout().NbChannels(), 2)
	}
	layout := astiav.ChannelLayoutMono
	if channels == 2 {
		layout = astiav.ChannelLayoutStereo
	}
	codec := astiav.FindEncoder(astiav.CodecIDAac)
	if codec == nil {
		return fmt.Errorf("aac: %w", ErrNoEncoder)
	}
	t.codecTB = astiav.NewRational(1, t.cfg.SampleRate)
	enc := astiav.AllocCodecContext(codec)
	enc.SetSampleRate(t.cfg.SampleRate)
	enc.SetSampleFormat(astiav.SampleFormatFltp)
	enc.SetChannelLayout(layout)
	enc.SetTimeBase(t.codecTB)
	bitrate := t.cfg.Bitrate
	if bitrate == 0 {
		bitrate = 64000 * int64(channels)
	}
	enc.SetBitRate(bitrate)
	enc.SetFlags(enc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	if err := enc.Open(codec, nil); err != nil {
		enc.Free()
		return fmt.Errorf("open aac encoder: %w", err)
	}
	t.enc = enc
	t.encoderID.Store("aac")
	args := astiav.FilterArgs{
		"sample_rate":    strconv.Itoa(f.SampleRate()),
		"sample_fmt":     f.SampleFormat().Name(),
		"channel_layout": f.ChannelLayout().String(),
		"time_base":      "1/" + strconv.Itoa(f.SampleRate()),
	}
	chain := fmt.Sprintf("aresample=%d,aformat=sample_fmts=fltp:channel_layouts=%s,asetnsamples=n=%d:p=0",
		t.cfg.SampleRate, layout.String(), enc.FrameSize())
	return t.buildGraph("abuffer", "abuffersink", args, chain)
}

func (t *Track) buildGraph(srcName, sinkName string, args astiav.FilterArgs, chain string) error {
	g := astiav.AllocFilterGraph()
	t.graph = g
	var err error
	if t.src, err = g.NewFilterContext(astiav.FindFilterByName(srcName), "in", args); err != nil {
		return fmt.Errorf("make %s filter: %w", srcName, err)
	}
	if t.sink, err = g.NewFilterContext(astiav.FindFilterByName(sinkName), "out", nil); err != nil {
		return fmt.Errorf("make %s filter: %w", sinkName, err)
	}
	outputs, inputs := astiav.AllocFilterInOut(), astiav.AllocFilterInOut()
	defer outputs.Free()
	defer inputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(t.src)
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs.SetName("out")
	inputs.SetFilterContext(t.sink)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	if err := g.Parse(chain, inputs, outputs); err != nil {
		return fmt.Errorf("parse filter %q: %w", chain, err)
	}
	if err := g.Configure(); err != nil {
		return fmt.Errorf("configure filter %q: %w", chain, err)
	}
	return nil
}

func durationToTS(d time.Duration, tb astiav.Rational) int64 {
	// d * den / (num * 1e9), rounded to nearest, without overflow for days of recording.
	num, den := int64(tb.Num()), int64(tb.Den())
	q := int64(d) / (num * int64(time.Second))
	r := int64(d) % (num * int64(time.Second))
	return q*den + (r*den+num*int64(time.Second)/2)/(num*int64(time.Second))
}

func tsToDuration(ts int64, tb astiav.Rational) time.Duration {
	num, den := int64(tb.Num()), int64(tb.Den())
	whole := ts / den
	rem := ts % den
	return time.Duration(whole*num)*time.Second + time.Duration(rem*num*int64(time.Second)/den)
}
