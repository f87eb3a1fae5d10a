package media

import (
	"encoding/binary"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"
)

// span is one top-level box: its type and where it lies in the input.
type span struct {
	typ        string
	start, end int // the box, header included
	hdr        int // header length
}

func (s span) payload() (start, end int) { return s.start + s.hdr, s.end }

// topBoxes splits data into its top-level boxes, checking every size against the bytes
// that are there before anything is decoded.
func topBoxes(data []byte) ([]span, error) {
	var boxes []span
	for pos := 0; pos < len(data); {
		rest := len(data) - pos
		if rest < 8 {
			return nil, invalid("truncated: %d stray bytes at offset %d", rest, pos)
		}
		size := uint64(binary.BigEndian.Uint32(data[pos:]))
		typ := data[pos+4 : pos+8]
		if !printable(typ) {
			if pos == 0 {
				return nil, invalid("not MP4: no box header at offset 0")
			}
			return nil, invalid("no box header at offset %d", pos)
		}
		hdr := 8
		switch size {
		case 0:
			return nil, invalid("box %q at offset %d runs to the end of the file (size 0); want an explicit size", typ, pos)
		case 1:
			if rest < 16 {
				return nil, invalid("truncated: box %q at offset %d", typ, pos)
			}
			size = binary.BigEndian.Uint64(data[pos+8:])
			hdr = 16
		}
		if size < uint64(hdr) {
			return nil, invalid("box %q at offset %d has size %d, smaller than its header", typ, pos, size)
		}
		if size > uint64(rest) {
			return nil, invalid("truncated: box %q at offset %d declares %d bytes, %d remain", typ, pos, size, rest)
		}
		boxes = append(boxes, span{typ: string(typ), start: pos, end: pos + int(size), hdr: hdr})
		pos += int(size)
	}
	return boxes, nil
}

// printable reports whether a box type is four printable ASCII characters (or ©, which
// QuickTime metadata uses), so errors can quote it and garbage is told from MP4 early.
func printable(typ []byte) bool {
	for _, c := range typ {
		if (c < 0x20 || c > 0x7e) && c != 0xa9 {
			return false
		}
	}
	return true
}

// decode decodes one top-level box with mp4ff, reading nothing outside it. A panic in the
// decoder (a bug in mp4ff on hostile input) becomes ErrInvalid rather than a crashed server.
func decode(data []byte, s span) (box mp4.Box, err error) {
	defer func() {
		if r := recover(); r != nil {
			box, err = nil, invalid("%s box at offset %d: decoder failed: %v", s.typ, s.start, r)
		}
	}()
	sr := bits.NewFixedSliceReader(data[s.start:s.end])
	box, err = mp4.DecodeBoxSR(uint64(s.start), sr)
	if err != nil {
		return nil, invalid("%s box at offset %d: %v", s.typ, s.start, err)
	}
	if got := box.Size(); got != uint64(s.end-s.start) {
		return nil, invalid("%s box at offset %d: decoded %d of %d bytes", s.typ, s.start, got, s.end-s.start)
	}
	return box, nil
}
