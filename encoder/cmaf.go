package encoder

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/asticode/go-astiav"
)

// fragmenter turns one encoded elementary stream into CMAF: an init segment (ftyp+moov)
// and media fragments (moof+mdat), through FFmpeg's mp4 muxer writing to memory.
// Fragments are cut only when flush is called, so the caller decides where
// segments start (on keyframes, at the recording's 2 s grid).
type fragmenter struct {
	fc      *astiav.FormatContext
	ioc     *astiav.IOContext
	stream  *astiav.Stream
	buf     bytes.Buffer
	init    []byte
	started bool
}

// newFragmenter makes a fragmenter for the stream described by cc, whose packets carry
// time stamps in cc's time base.
func newFragmenter(cc *astiav.CodecContext) (*fragmenter, error) {
	fc, err := astiav.AllocOutputFormatContext(nil, "mp4", "")
	if err != nil {
		return nil, fmt.Errorf("allocate mp4 muxer: %w", err)
	}
	f := &fragmenter{fc: fc}
	f.ioc, err = astiav.AllocIOContext(64*1024, true, nil, nil, func(b []byte) (int, error) {
		return f.buf.Write(b)
	})
	if err != nil {
		fc.Free()
		return nil, fmt.Errorf("allocate muxer io: %w", err)
	}
	fc.SetPb(f.ioc)
	f.stream = fc.NewStream(nil)
	if f.stream == nil {
		f.free()
		return nil, fmt.Errorf("add mp4 stream: %w", ErrFFmpeg)
	}
	if err := f.stream.CodecParameters().FromCodecContext(cc); err != nil {
		f.free()
		return nil, fmt.Errorf("copy codec parameters: %w", err)
	}
	f.stream.CodecParameters().SetCodecTag(0)
	f.stream.SetTimeBase(cc.TimeBase())
	opts := astiav.NewDictionary()
	defer opts.Free()
	// frag_custom: we cut fragments ourselves; empty_moov: the init segment is complete
	// before the first sample; default_base_moof+cmaf: CMAF-conformant fragments that a
	// player can fetch one by one; frag_discont: the first fragment's tfdt is the first
	// sample's time on the recording's timeline, so tracks line up without edit lists.
	_ = opts.Set("movflags", "+frag_custom+empty_moov+default_base_moof+cmaf+frag_discont+skip_trailer", 0)
	_ = opts.Set("use_editlist", "0", 0)
	if err := fc.WriteHeader(opts); err != nil {
		f.free()
		return nil, fmt.Errorf("write mp4 header: %w", err)
	}
	f.ioc.Flush()
	f.init = bytes.Clone(f.buf.Bytes())
	f.buf.Reset()
	if !bytes.Contains(f.init, []byte("moov")) {
		f.free()
		return nil, fmt.Errorf("mp4 muxer wrote no init segment: %w", ErrFFmpeg)
	}
	return f, nil
}

// TimeBase is the time base the muxer wants packets in (it may differ from the codec's).
func (f *fragmenter) timeBase() astiav.Rational { return f.stream.TimeBase() }

// write adds one packet, in the muxer's time base, to the open fragment.
func (f *fragmenter) write(p *astiav.Packet) error {
	p.SetStreamIndex(0)
	f.started = true
	if err := f.fc.WriteFrame(p); err != nil {
		return fmt.Errorf("mux packet: %w", err)
	}
	return nil
}

// flush closes the open fragment and returns its bytes (moof+mdat), or nil when empty.
func (f *fragmenter) flush() ([]byte, error) {
	if !f.started {
		return nil, nil
	}
	if err := f.fc.WriteFrame(nil); err != nil {
		return nil, fmt.Errorf("cut fragment: %w", err)
	}
	f.ioc.Flush()
	f.started = false
	if f.buf.Len() == 0 {
		return nil, nil
	}
	out := bytes.Clone(f.buf.Bytes())
	f.buf.Reset()
	if err := checkBoxes(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (f *fragmenter) free() {
	if f.fc != nil {
		f.fc.Free()
		f.fc = nil
	}
	if f.ioc != nil {
		f.ioc.Free()
		f.ioc = nil
	}
}

// checkBoxes verifies that b is a sequence of whole ISO BMFF boxes, so a fragment we
// hand on is never a torn write.
func checkBoxes(b []byte) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("fragment ends inside a box header: %w", ErrFFmpeg)
		}
		size := uint64(binary.BigEndian.Uint32(b))
		hdr := uint64(8)
		if size == 1 {
			if len(b) < 16 {
				return fmt.Errorf("fragment ends inside a box header: %w", ErrFFmpeg)
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return fmt.Errorf("fragment box %q has size %d of %d bytes: %w", b[4:8], size, len(b), ErrFFmpeg)
		}
		b = b[size:]
	}
	return nil
}
