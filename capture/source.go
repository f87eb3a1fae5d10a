//go:build cgo

package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/asticode/go-astiav"
)

// Frame is one decoded picture or block of audio samples read from a source.
type Frame struct {
	// AV is the decoded frame; it belongs to the Source and is valid until the next Read.
	AV *astiav.Frame
	// Stream is the index into Source.Streams of the stream it came from.
	Stream int
	// PTS is the frame's time stamp on the source's own clock: the wall clock for
	// x11grab and PulseAudio, the device's for V4L2 and ALSA, zero at the start for the
	// synthetic source.
	PTS time.Duration
}

// StreamInfo describes one stream of an open source.
type StreamInfo struct {
	// Kind of device the stream comes from.
	Kind Kind
	// Spec the stream was opened with.
	Spec Spec
	// Width and Height of pictures (video).
	Width, Height int
	// FPS is the nominal frame rate (video).
	FPS float64
	// SampleRate and Channels (audio).
	SampleRate, Channels int
	// Video reports whether the stream carries pictures.
	Video bool
}

// Source is an open capture device (or a synthetic source) read frame by frame.
// Read must be called from one goroutine; Close may be called from any.
type Source struct {
	log      *slog.Logger
	fc       *astiav.FormatContext
	intr     astiav.IOInterrupter
	streams  []StreamInfo
	decoders []*astiav.CodecContext
	pkt      *astiav.Packet
	frame    *astiav.Frame
	tbs      []astiav.Rational
	pending  int       // stream whose decoder may still hold frames, or -1
	once     sync.Once // FFmpeg's interrupt flag is a plain int: set it once
	mu       sync.Mutex
	closed   bool
}

// Open opens the devices the specs name. Several specs open as one source only when all
// are synthetic (they then share one clock); otherwise pass exactly one.
func Open(ctx context.Context, specs []Spec, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("open: no source named: %w", ErrBadSpec)
	}
	format, url, opts, err := inputFor(specs)
	if err != nil {
		return nil, err
	}
	astiav.RegisterAllDevices()
	ifmt := astiav.FindInputFormat(format)
	if ifmt == nil {
		return nil, fmt.Errorf("%s %s: FFmpeg here has no %s input: %w", specs[0].Kind, specs[0].String(), format, ErrUnavailable)
	}
	dict := astiav.NewDictionary()
	defer dict.Free()
	for k, v := range opts {
		_ = dict.Set(k, v, 0)
	}
	s := &Source{log: log, fc: astiav.AllocFormatContext(), pending: -1}
	s.intr = s.fc.SetInterruptCallback()
	stop := context.AfterFunc(ctx, s.interrupt)
	defer stop()
	if err := s.fc.OpenInput(url, ifmt, dict); err != nil {
		s.fc.Free()
		return nil, openError(specs[0], err)
	}
	if err := s.fc.FindStreamInfo(nil); err != nil {
		s.fc.CloseInput()
		s.fc.Free()
		return nil, fmt.Errorf("%s %s: read stream info: %w", specs[0].Kind, specs[0].String(), err)
	}
	if err := s.setupStreams(specs); err != nil {
		s.Close()
		return nil, err
	}
	s.pkt, s.frame = astiav.AllocPacket(), astiav.AllocFrame()
	return s, nil
}

func (s *Source) setupStreams(specs []Spec) error {
	for i, st := range s.fc.Streams() {
		cp := st.CodecParameters()
		spec := specs[min(i, len(specs)-1)]
		info := StreamInfo{Kind: spec.Kind, Spec: spec}
		switch cp.MediaType() {
		case astiav.MediaTypeVideo:
			info.Video = true
			info.Width, info.Height = cp.Width(), cp.Height()
			info.FPS = s.fc.GuessFrameRate(st, nil).Float64()
		case astiav.MediaTypeAudio:
			info.SampleRate, info.Channels = cp.SampleRate(), cp.ChannelLayout().NbChannels()
		default:
			continue
		}
		codec := astiav.FindDecoder(cp.CodecID())
		if codec == nil {
			return fmt.Errorf("%s %s: no decoder for %s: %w", spec.Kind, spec.String(), cp.CodecID(), ErrUnavailable)
		}
		dec := astiav.AllocCodecContext(codec)
		if err := cp.ToCodecContext(dec); err != nil {
			dec.Free()
			return fmt.Errorf("%s: decoder parameters: %w", spec.Kind, err)
		}
		if err := dec.Open(codec, nil); err != nil {
			dec.Free()
			return fmt.Errorf("%s: open decoder: %w", spec.Kind, err)
		}
		for len(s.decoders) < st.Index() {
			s.decoders = append(s.decoders, nil)
			s.tbs = append(s.tbs, astiav.Rational{})
			s.streams = append(s.streams, StreamInfo{})
		}
		s.decoders = append(s.decoders, dec)
		s.tbs = append(s.tbs, st.TimeBase())
		s.streams = append(s.streams, info)
	}
	return nil
}

// Streams describes the source's streams; Frame.Stream indexes it.
func (s *Source) Streams() []StreamInfo { return s.streams }

// Read returns the next decoded frame. It blocks until the device delivers one, ctx ends
// (ctx.Err()), or the source ends (io.EOF-like astiav.ErrEof wrapped in ErrEnded).
func (s *Source) Read(ctx context.Context) (Frame, error) {
	stop := context.AfterFunc(ctx, s.interrupt)
	defer stop()
	for {
		if s.pending >= 0 {
			s.frame.Unref()
			err := s.decoders[s.pending].ReceiveFrame(s.frame)
			if err == nil {
				return s.frameOf(s.pending), nil
			}
			if !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
				return Frame{}, fmt.Errorf("decode %s: %w", s.streams[s.pending].Kind, err)
			}
			s.pending = -1
		}
		if ctx.Err() != nil {
			return Frame{}, ctx.Err()
		}
		s.pkt.Unref()
		if err := s.fc.ReadFrame(s.pkt); err != nil {
			if ctx.Err() != nil {
				return Frame{}, ctx.Err()
			}
			if errors.Is(err, astiav.ErrEof) {
				return Frame{}, ErrEnded
			}
			if errors.Is(err, astiav.ErrEagain) {
				continue
			}
			return Frame{}, fmt.Errorf("%s %w (unplugged or closed?): %w", s.streams[0].Kind, ErrDeviceLost, err)
		}
		i := s.pkt.StreamIndex()
		if i >= len(s.decoders) || s.decoders[i] == nil {
			continue
		}
		if err := s.decoders[i].SendPacket(s.pkt); err != nil {
			s.log.Warn("dropped undecodable packet", "stream", i, "err", err)
			continue
		}
		s.pending = i
	}
}

// interrupt makes a blocked FFmpeg call on the source return; the source is done then.
func (s *Source) interrupt() { s.once.Do(s.intr.Interrupt) }

func (s *Source) frameOf(i int) Frame {
	ts := s.frame.Pts()
	if ts == astiav.NoPtsValue {
		ts = s.frame.PktDts()
	}
	tb := s.tbs[i]
	num, den := int64(tb.Num()), int64(tb.Den())
	d := time.Duration(ts/den*num)*time.Second + time.Duration(ts%den*num*int64(time.Second)/den)
	return Frame{AV: s.frame, Stream: i, PTS: d}
}

// Close stops the source and frees what it holds. A Read blocked in the device returns.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, d := range s.decoders {
		if d != nil {
			d.Free()
		}
	}
	if s.pkt != nil {
		s.pkt.Free()
	}
	if s.frame != nil {
		s.frame.Free()
	}
	s.fc.CloseInput()
	s.fc.Free()
	return nil
}

// inputFor gives FFmpeg's input format, URL and options for the specs.
func inputFor(specs []Spec) (format, url string, opts map[string]string, err error) {
	if specs[0].Synthetic() {
		graph, err := SyntheticGraph(specs)
		if err != nil {
			return "", "", nil, err
		}
		return "lavfi", graph, nil, nil
	}
	if len(specs) > 1 {
		return "", "", nil, fmt.Errorf("open: only synthetic sources open together: %w", ErrBadSpec)
	}
	return specs[0].Backend, specs[0].URL(), specs[0].Options(), nil
}

// openError turns FFmpeg's answer to opening a device into a sentence naming the cause
// and what to do about it.
func openError(s Spec, err error) error {
	var av astiav.Error
	dev := s.Device
	if dev == "" {
		dev = s.URL()
	}
	what := fmt.Sprintf("%s %q", s.Kind, dev)
	if errors.As(err, &av) {
		switch syscall.Errno(-int(av)) {
		case syscall.ENOENT, syscall.ENODEV, syscall.ENXIO:
			return fmt.Errorf("%s %w: check that it is connected, or run \"aula-agent devices\" to list what is here", what, ErrNotFound)
		case syscall.EBUSY:
			return fmt.Errorf("%s is %w: another program is using it; close that program or pick another device", what, ErrBusy)
		case syscall.EACCES, syscall.EPERM:
			return fmt.Errorf("%s: %w: add this user to the device's group (video or audio) or pick another device", what, ErrPermission)
		case syscall.EINVAL, syscall.ERANGE:
			return fmt.Errorf("%s: %s is %w: run \"aula-agent devices\" to see the sizes and rates it offers", what, s.String(), ErrUnsupportedMode)
		case syscall.EIO:
			if s.Backend == "x11grab" {
				return fmt.Errorf("%s %w: cannot connect to the X display; check that the X server runs and that --screen or DISPLAY names it", what, ErrNotFound)
			}
		}
	}
	return fmt.Errorf("%s %w: %w", what, ErrUnavailable, err)
}
