package media

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// read returns a file of testdata.
func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitCMAF splits a whole fragmented file (ftyp, moov, then moof+mdat pairs) into its init
// segment and its fragments, as the agent's segmenter hands them out.
func splitCMAF(t testing.TB, name string) (init []byte, frags [][]byte) {
	t.Helper()
	data := read(t, name)
	boxes, err := topBoxes(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(boxes) < 4 || boxes[1].typ != "moov" {
		t.Fatalf("%s: want ftyp, moov, moof, mdat…", name)
	}
	for i := 2; i+1 < len(boxes); i += 2 {
		frags = append(frags, data[boxes[i].start:boxes[i+1].end])
	}
	return data[:boxes[1].end], frags
}

func mustInit(t testing.TB, data []byte) Init {
	t.Helper()
	in, err := ParseInit(data)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// headers maps container boxes to the bytes between their box header and first child.
var headers = map[string]int{
	"moov": 0, "trak": 0, "mdia": 0, "minf": 0, "stbl": 0, "dinf": 0, "mvex": 0, "udta": 0,
	"moof": 0, "traf": 0, "dref": 8, "stsd": 8, "meta": 4, "avc1": 78, "mp4a": 28,
}

// find returns the offsets of the box at path ("moov/trak/tkhd"; a trailing "#n" picks the
// n-th match of the last element) and of each of its ancestors, outermost first.
func find(t testing.TB, data []byte, path ...string) []int {
	t.Helper()
	var chain []int
	start, end := 0, len(data)
	for depth, name := range path {
		want, nth := name, 0
		if i := bytes.IndexByte([]byte(name), '#'); i >= 0 {
			want, nth = name[:i], int(name[i+1]-'0')
		}
		found := false
		for pos := start; pos+8 <= end; {
			size := int(binary.BigEndian.Uint32(data[pos:]))
			if size < 8 {
				t.Fatalf("find %v: bad size at %d", path, pos)
			}
			if string(data[pos+4:pos+8]) == want {
				if nth == 0 {
					chain = append(chain, pos)
					if depth < len(path)-1 {
						start, end = pos+8+headers[want], pos+size
					}
					found = true
					break
				}
				nth--
			}
			pos += size
		}
		if !found {
			t.Fatalf("find %v: no %s", path, name)
		}
	}
	return chain
}

// replace returns a copy of data with the box at path replaced by box, every ancestor's
// size adjusted.
func replace(t testing.TB, data []byte, box []byte, path ...string) []byte {
	t.Helper()
	chain := find(t, data, path...)
	at := chain[len(chain)-1]
	old := int(binary.BigEndian.Uint32(data[at:]))
	out := append(append(bytes.Clone(data[:at]), box...), data[at+old:]...)
	delta := len(box) - old
	for _, a := range chain[:len(chain)-1] {
		binary.BigEndian.PutUint32(out[a:], uint32(int(binary.BigEndian.Uint32(out[a:]))+delta))
	}
	return out
}

// patch returns a copy of data with b written at offset off into the box at path.
func patch(t testing.TB, data []byte, off int, b []byte, path ...string) []byte {
	t.Helper()
	chain := find(t, data, path...)
	out := bytes.Clone(data)
	copy(out[chain[len(chain)-1]+off:], b)
	return out
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func box(typ string, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(append(u32(uint32(8+len(body))), typ...), body...)
}

func fullBox(typ string, version byte, flags uint32, parts ...[]byte) []byte {
	return box(typ, append([][]byte{u32(uint32(version)<<24 | flags)}, parts...)...)
}

// nal returns one length-prefixed NAL unit of n bytes with the given header byte.
func nal(header byte, n int) []byte {
	b := append(u32(uint32(n)), header)
	return append(b, make([]byte, n-1)...)
}

var (
	idr    = nal(0x65, 40) // IDR slice
	nonIDR = nal(0x41, 20) // non-IDR slice
)

const (
	syncFlags    = 0x02000000 // depends on no other sample
	nonSyncFlags = 0x01010000 // depends on others, not a sync sample
)

// sample of a synthetic fragment.
type sample struct {
	dur, flags uint32
	data       []byte
}

// synth describes one synthetic moof+mdat; the zero value plus samples is a CMAF fragment
// of track 1 at decode time 0 whose trun gives every sample's duration, size and flags.
type synth struct {
	trackID    uint32 // 1 if zero
	tfhdFlags  uint32 // default-base-is-moof if zero
	tfhdFields []byte // the optional fields tfhdFlags announce
	noTfdt     bool
	baseTime   uint64
	trunFlags  uint32 // 0x701 if zero
	firstFlags uint32 // first-sample-flags, if trunFlags has 0x4
	samples    []sample
	extraTraf  []byte // boxes appended to the traf
	offset     int32  // added to the right data offset
	mdatExtra  []byte // bytes after the samples in mdat
}

func (s synth) bytes() []byte {
	if s.trackID == 0 {
		s.trackID = 1
	}
	if s.tfhdFlags == 0 {
		s.tfhdFlags = 0x020000
	}
	if s.trunFlags == 0 {
		s.trunFlags = 0x701
	}
	var mdat []byte
	for _, sm := range s.samples {
		mdat = append(mdat, sm.data...)
	}
	mdat = append(mdat, s.mdatExtra...)
	moof := func(offset int32) []byte {
		trun := [][]byte{u32(uint32(len(s.samples)))}
		if s.trunFlags&0x1 != 0 {
			trun = append(trun, u32(uint32(offset)))
		}
		if s.trunFlags&0x4 != 0 {
			trun = append(trun, u32(s.firstFlags))
		}
		for _, sm := range s.samples {
			if s.trunFlags&0x100 != 0 {
				trun = append(trun, u32(sm.dur))
			}
			if s.trunFlags&0x200 != 0 {
				trun = append(trun, u32(uint32(len(sm.data))))
			}
			if s.trunFlags&0x400 != 0 {
				trun = append(trun, u32(sm.flags))
			}
		}
		traf := [][]byte{fullBox("tfhd", 0, s.tfhdFlags, u32(s.trackID), s.tfhdFields)}
		if !s.noTfdt {
			traf = append(traf, fullBox("tfdt", 1, 0, u64(s.baseTime)))
		}
		traf = append(traf, fullBox("trun", 0, s.trunFlags, trun...), s.extraTraf)
		return box("moof", fullBox("mfhd", 0, 0, u32(1)), box("traf", traf...))
	}
	m := moof(0)
	return append(moof(int32(len(m)+8)+s.offset), box("mdat", mdat)...)
}

// videoSamples returns an IDR sample then n-1 non-IDR ones, 512 ticks each.
func videoSamples(n int) []sample {
	s := []sample{{512, syncFlags, idr}}
	for range n - 1 {
		s = append(s, sample{512, nonSyncFlags, nonIDR})
	}
	return s
}

// audioSamples returns n sync samples of 1024 ticks.
func audioSamples(n int) []sample {
	var s []sample
	for range n {
		s = append(s, sample{1024, 0, []byte{0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c}})
	}
	return s
}
