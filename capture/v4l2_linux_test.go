package capture

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Capability bits of a Logitech C920 as the uvcvideo driver reports them: the whole
// device captures video and metadata; /dev/video0 does the video, /dev/video1 the
// metadata.
const (
	c920Caps       = 0x84a00001
	c920VideoCaps  = 0x04200001
	c920MetaCaps   = 0x04a00000
	capStreaming   = 0x04000000
	capMetaCapture = 0x00800000
)

// Test encoders: they lay out the V4L2 structures as the kernel fills them.

func putString(b []byte, s string) { copy(b, s) }

func encodeCapability(driver, card, bus string, caps, deviceCaps uint32) []byte {
	b := make([]byte, capabilitySize)
	ne := binary.NativeEndian
	putString(b[0:16], driver)
	putString(b[16:48], card)
	putString(b[48:80], bus)
	ne.PutUint32(b[80:], 0x00060800) // kernel 6.8
	ne.PutUint32(b[84:], caps)
	ne.PutUint32(b[88:], deviceCaps)
	return b
}

func encodeFmtDesc(index uint32, desc, code string) []byte {
	b := make([]byte, fmtDescSize)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], index)
	ne.PutUint32(b[4:], bufTypeVideoCapture)
	putString(b[12:44], desc)
	ne.PutUint32(b[44:], fourcc(code))
	return b
}

func encodeFrameSize(index uint32, code string, typ uint32, values ...uint32) []byte {
	b := make([]byte, frameSizeSize)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], index)
	ne.PutUint32(b[4:], fourcc(code))
	ne.PutUint32(b[8:], typ)
	for i, v := range values {
		ne.PutUint32(b[12+4*i:], v)
	}
	return b
}

func encodeFrameInterval(index uint32, code string, w, h, typ uint32, values ...uint32) []byte {
	b := make([]byte, frameIntervalSize)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], index)
	ne.PutUint32(b[4:], fourcc(code))
	ne.PutUint32(b[8:], w)
	ne.PutUint32(b[12:], h)
	ne.PutUint32(b[16:], typ)
	for i, v := range values {
		ne.PutUint32(b[20+4*i:], v)
	}
	return b
}

func TestVidioc(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("the expected numbers are those of amd64 and arm64")
	}
	// From strace of v4l2-ctl --list-formats-ext on amd64.
	tests := []struct {
		name string
		nr   uint32
		want uint32
	}{
		{"VIDIOC_QUERYCAP", nrQueryCap, 0x80685600},
		{"VIDIOC_ENUM_FMT", nrEnumFmt, 0xc0405602},
		{"VIDIOC_ENUM_FRAMESIZES", nrEnumFrameSizes, 0xc02c564a},
		{"VIDIOC_ENUM_FRAMEINTERVALS", nrEnumFrameIntervals, 0xc034564b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := vidioc(tt.nr); got != tt.want {
				t.Errorf("vidioc(%d) = %#x, want %#x", tt.nr, got, tt.want)
			}
		})
	}
}

func TestDecodeCapability(t *testing.T) {
	long := make([]byte, 32)
	for i := range long {
		long[i] = 'A'
	}
	tests := []struct {
		name    string
		b       []byte
		want    v4l2Capability
		wantErr bool
	}{
		{"video node of a C920", encodeCapability("uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-1", c920Caps, c920VideoCaps),
			v4l2Capability{Driver: "uvcvideo", Card: "HD Pro Webcam C920", BusInfo: "usb-0000:00:14.0-1", Version: 0x00060800, Caps: c920VideoCaps}, false},
		{"metadata node of a C920", encodeCapability("uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-1", c920Caps, c920MetaCaps),
			v4l2Capability{Driver: "uvcvideo", Card: "HD Pro Webcam C920", BusInfo: "usb-0000:00:14.0-1", Version: 0x00060800, Caps: c920MetaCaps}, false},
		{"old driver without device caps", encodeCapability("bttv", "BT878 video", "PCI:0000:05:00.0", 0x05010015, 0xffffffff),
			v4l2Capability{Driver: "bttv", Card: "BT878 video", BusInfo: "PCI:0000:05:00.0", Version: 0x00060800, Caps: 0x05010015}, false},
		{"card name fills its field", encodeCapability("x", string(long), "", capVideoCapture, 0),
			v4l2Capability{Driver: "x", Card: string(long), Version: 0x00060800, Caps: capVideoCapture}, false},
		{"control characters and bad UTF-8", encodeCapability("d", " Cam\x01\xff ", "", capVideoCapture, 0),
			v4l2Capability{Driver: "d", Card: "Cam\uFFFD", Version: 0x00060800, Caps: capVideoCapture}, false},
		{"short", make([]byte, capabilitySize-1), v4l2Capability{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeCapability(tt.b)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("decodeCapability = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestDecodeFmtDesc(t *testing.T) {
	got, err := decodeFmtDesc(encodeFmtDesc(1, "Motion-JPEG", "MJPG"))
	want := v4l2FmtDesc{Index: 1, Type: bufTypeVideoCapture, Description: "Motion-JPEG", PixelFormat: fourcc("MJPG")}
	if err != nil || got != want {
		t.Errorf("decodeFmtDesc = %+v, %v; want %+v", got, err, want)
	}
	if _, err := decodeFmtDesc(make([]byte, 10)); err == nil {
		t.Error("decodeFmtDesc of 10 bytes: no error")
	}
}

func TestDecodeFrameSize(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		want    v4l2FrameSize
		wantErr bool
	}{
		{"discrete", encodeFrameSize(2, "YUYV", frameSizeDiscrete, 1280, 720),
			v4l2FrameSize{Index: 2, PixelFormat: fourcc("YUYV"), Type: frameSizeDiscrete,
				MinWidth: 1280, MaxWidth: 1280, StepWidth: 1, MinHeight: 720, MaxHeight: 720, StepHeight: 1}, false},
		{"stepwise (Raspberry Pi camera)", encodeFrameSize(0, "YU12", frameSizeStepwise, 32, 2592, 2, 32, 1944, 2),
			v4l2FrameSize{PixelFormat: fourcc("YU12"), Type: frameSizeStepwise,
				MinWidth: 32, MaxWidth: 2592, StepWidth: 2, MinHeight: 32, MaxHeight: 1944, StepHeight: 2}, false},
		{"continuous ignores step", encodeFrameSize(0, "BGR3", frameSizeContinuous, 48, 4096, 0, 32, 2160, 0),
			v4l2FrameSize{PixelFormat: fourcc("BGR3"), Type: frameSizeContinuous,
				MinWidth: 48, MaxWidth: 4096, StepWidth: 1, MinHeight: 32, MaxHeight: 2160, StepHeight: 1}, false},
		{"unknown type", encodeFrameSize(0, "YUYV", 9, 640, 480), v4l2FrameSize{}, true},
		{"zero size", encodeFrameSize(0, "YUYV", frameSizeDiscrete, 0, 480), v4l2FrameSize{}, true},
		{"reversed range", encodeFrameSize(0, "YUYV", frameSizeStepwise, 640, 320, 2, 480, 480, 2), v4l2FrameSize{}, true},
		{"zero step", encodeFrameSize(0, "YUYV", frameSizeStepwise, 320, 640, 0, 240, 480, 2), v4l2FrameSize{}, true},
		{"short", make([]byte, frameSizeSize-1), v4l2FrameSize{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeFrameSize(tt.b)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("decodeFrameSize = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestDecodeFrameInterval(t *testing.T) {
	tests := []struct {
		name         string
		b            []byte
		wantMin      float64
		wantMax      float64
		wantErr      bool
		wantDiscrete bool
	}{
		{"30 fps", encodeFrameInterval(0, "MJPG", 1920, 1080, frameIvalDiscrete, 1, 30), 30, 30, false, true},
		{"7.5 fps", encodeFrameInterval(5, "YUYV", 640, 480, frameIvalDiscrete, 2, 15), 7.5, 7.5, false, true},
		{"NTSC", encodeFrameInterval(0, "YUYV", 720, 480, frameIvalDiscrete, 1001, 30000), 29.97, 29.97, false, true},
		{"uvc in 100 ns units", encodeFrameInterval(0, "YUYV", 640, 480, frameIvalDiscrete, 333333, 10000000), 30, 30, false, true},
		{"stepwise 1 to 90 fps", encodeFrameInterval(0, "YU12", 640, 480, frameIvalStepwise, 1, 90, 1, 1, 1, 90), 1, 90, false, false},
		{"continuous", encodeFrameInterval(0, "YU12", 640, 480, frameIvalContinuous, 1, 60, 1, 15, 1, 1), 15, 60, false, false},
		{"zero denominator", encodeFrameInterval(0, "YUYV", 640, 480, frameIvalDiscrete, 1, 0), 0, 0, true, false},
		{"an hour a frame", encodeFrameInterval(0, "YUYV", 640, 480, frameIvalStepwise, 1, 30, 3600, 1, 1, 1), 0, 0, true, false},
		{"zero numerator", encodeFrameInterval(0, "YUYV", 640, 480, frameIvalDiscrete, 0, 30), 0, 0, true, false},
		{"reversed range", encodeFrameInterval(0, "YU12", 640, 480, frameIvalStepwise, 1, 1, 1, 90, 1, 1), 0, 0, true, false},
		{"unknown type", encodeFrameInterval(0, "YUYV", 640, 480, 0, 1, 30), 0, 0, true, false},
		{"short", make([]byte, frameIntervalSize-1), 0, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeFrameInterval(tt.b)
			if (err != nil) != tt.wantErr {
				t.Fatalf("decodeFrameInterval = %+v, %v; want error %v", got, err, tt.wantErr)
			}
			if got.MinFPS != tt.wantMin || got.MaxFPS != tt.wantMax || (got.Type == frameIvalDiscrete) != tt.wantDiscrete {
				t.Errorf("decodeFrameInterval = %+v, want %v..%v fps", got, tt.wantMin, tt.wantMax)
			}
		})
	}
}

func TestFFmpegFormat(t *testing.T) {
	tests := map[string]string{"YUYV": "yuyv422", "MJPG": "mjpeg", "JPEG": "mjpeg", "H264": "h264", "NV12": "nv12", "Y16 ": "gray16le", "UVCH": "", "\x00\x00\x00\x00": ""}
	for code, want := range tests {
		t.Run(code, func(t *testing.T) {
			if got := ffmpegFormat(fourcc(code)); got != want {
				t.Errorf("ffmpegFormat(%q) = %q, want %q", code, got, want)
			}
		})
	}
}

// fakeFormat is one pixel format of a fakeCamera with its frame sizes; each size's
// intervals are the V4L2 structures the camera answers, in order.
type fakeFormat struct {
	code, desc string
	sizes      [][]byte
	intervals  map[[2]uint32][][]byte
}

// fakeCamera answers V4L2 ioctls as a driver would.
type fakeCamera struct {
	capability []byte
	formats    []fakeFormat
	// failEnum makes VIDIOC_ENUM_FMT fail with EIO.
	failEnum bool
}

func (c *fakeCamera) ioctl(_ uintptr, req uint32, arg []byte) error {
	ne := binary.NativeEndian
	answer := func(list [][]byte) error {
		i := ne.Uint32(arg[0:])
		if int(i) >= len(list) {
			return unix.EINVAL
		}
		copy(arg, list[i])
		return nil
	}
	format := func() *fakeFormat {
		for i := range c.formats {
			if fourcc(c.formats[i].code) == ne.Uint32(arg[4:]) {
				return &c.formats[i]
			}
		}
		return nil
	}
	switch req {
	case vidioc(nrQueryCap):
		copy(arg, c.capability)
		return nil
	case vidioc(nrEnumFmt):
		if c.failEnum {
			return unix.EIO
		}
		if ne.Uint32(arg[4:]) != bufTypeVideoCapture {
			return unix.EINVAL
		}
		var list [][]byte
		for i, f := range c.formats {
			list = append(list, encodeFmtDesc(uint32(i), f.desc, f.code))
		}
		return answer(list)
	case vidioc(nrEnumFrameSizes):
		if f := format(); f != nil {
			return answer(f.sizes)
		}
		return unix.EINVAL
	case vidioc(nrEnumFrameIntervals):
		if f := format(); f != nil {
			return answer(f.intervals[[2]uint32{ne.Uint32(arg[8:]), ne.Uint32(arg[12:])}])
		}
		return unix.EINVAL
	}
	return unix.ENOTTY
}

// c920 is a Logitech C920's video node, trimmed to a few sizes, with a format FFmpeg
// cannot read (UVC H.264 payloads) thrown in.
func c920() *fakeCamera {
	ivals := func(code string, w, h uint32, fps ...uint32) [][]byte {
		var out [][]byte
		for i, f := range fps {
			if f == 0 { // 7.5 fps
				out = append(out, encodeFrameInterval(uint32(i), code, w, h, frameIvalDiscrete, 2, 15))
				continue
			}
			out = append(out, encodeFrameInterval(uint32(i), code, w, h, frameIvalDiscrete, 1, f))
		}
		return out
	}
	return &fakeCamera{
		capability: encodeCapability("uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-1", c920Caps, c920VideoCaps),
		formats: []fakeFormat{
			{code: "YUYV", desc: "YUYV 4:2:2",
				sizes: [][]byte{
					encodeFrameSize(0, "YUYV", frameSizeDiscrete, 640, 480),
					encodeFrameSize(1, "YUYV", frameSizeDiscrete, 1920, 1080),
				},
				intervals: map[[2]uint32][][]byte{
					{640, 480}:   ivals("YUYV", 640, 480, 30, 24, 20, 15, 10, 0, 5),
					{1920, 1080}: ivals("YUYV", 1920, 1080, 5),
				}},
			{code: "UVCH", desc: "UVC H.264"},
			{code: "MJPG", desc: "Motion-JPEG",
				sizes: [][]byte{
					encodeFrameSize(0, "MJPG", frameSizeDiscrete, 1280, 720),
					encodeFrameSize(1, "MJPG", frameSizeDiscrete, 1920, 1080),
				},
				intervals: map[[2]uint32][][]byte{
					{1280, 720}:  ivals("MJPG", 1280, 720, 30, 24, 15),
					{1920, 1080}: ivals("MJPG", 1920, 1080, 30, 15),
				}},
		},
	}
}

var c920Modes = []Mode{
	{Width: 640, Height: 480, FPS: []float64{30, 24, 20, 15, 10, 7.5, 5}, PixelFormat: "yuyv422"},
	{Width: 1920, Height: 1080, FPS: []float64{5}, PixelFormat: "yuyv422"},
	{Width: 1280, Height: 720, FPS: []float64{30, 24, 15}, PixelFormat: "mjpeg"},
	{Width: 1920, Height: 1080, FPS: []float64{30, 15}, PixelFormat: "mjpeg"},
}

// piCamera offers ranges of sizes and rates, as the Raspberry Pi camera does.
func piCamera() *fakeCamera {
	ranges := map[[2]uint32][][]byte{}
	for _, s := range [][2]uint32{{640, 480}, {1280, 720}, {1920, 1080}, {2592, 1944}} {
		ranges[s] = [][]byte{encodeFrameInterval(0, "YU12", s[0], s[1], frameIvalContinuous, 1, 90, 1, 1, 1, 1)}
	}
	return &fakeCamera{
		capability: encodeCapability("bm2835 mmal", "mmal service 16.1", "platform:bcm2835-v4l2-0", 0x85200005, 0x05200005),
		formats: []fakeFormat{{code: "YU12", desc: "Planar YUV 4:2:0",
			sizes:     [][]byte{encodeFrameSize(0, "YU12", frameSizeStepwise, 32, 2592, 2, 32, 1944, 2)},
			intervals: ranges,
		}},
	}
}

func equalModes(a, b []Mode) bool {
	return slices.EqualFunc(a, b, func(x, y Mode) bool {
		return x.Width == y.Width && x.Height == y.Height && x.PixelFormat == y.PixelFormat &&
			x.SampleRate == y.SampleRate && x.Channels == y.Channels && slices.Equal(x.FPS, y.FPS)
	})
}

func TestQueryV4L2(t *testing.T) {
	node := filepath.Join(t.TempDir(), "video0")
	if err := os.WriteFile(node, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	meta := c920()
	meta.capability = encodeCapability("uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-1", c920Caps, c920MetaCaps)
	broken := c920()
	broken.failEnum = true
	tests := []struct {
		name   string
		ioctl  v4l2Ioctl
		ok     bool
		device string
		modes  []Mode
	}{
		{"C920", c920().ioctl, true, "HD Pro Webcam C920", c920Modes},
		{"ranges", piCamera().ioctl, true, "mmal service 16.1", []Mode{
			{Width: 640, Height: 480, FPS: []float64{90, 1}, PixelFormat: "yuv420p"},
			{Width: 1280, Height: 720, FPS: []float64{90, 1}, PixelFormat: "yuv420p"},
			{Width: 1920, Height: 1080, FPS: []float64{90, 1}, PixelFormat: "yuv420p"},
			{Width: 2592, Height: 1944, FPS: []float64{90, 1}, PixelFormat: "yuv420p"},
		}},
		{"metadata node", meta.ioctl, false, "", nil},
		{"formats fail", broken.ioctl, true, "HD Pro Webcam C920", nil},
		{"regular file", sysIoctl, false, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, ok := queryV4L2(node, tt.ioctl)
			if ok != tt.ok {
				t.Fatalf("queryV4L2 ok = %v, want %v (%+v)", ok, tt.ok, dev)
			}
			if !ok {
				return
			}
			want := Device{Kind: KindCamera, Backend: "v4l2", ID: node, Name: tt.device}
			if dev.Kind != want.Kind || dev.Backend != want.Backend || dev.ID != want.ID || dev.Name != want.Name {
				t.Errorf("queryV4L2 = %+v, want %+v", dev, want)
			}
			if !equalModes(dev.Modes, tt.modes) {
				t.Errorf("modes = %+v\nwant %+v", dev.Modes, tt.modes)
			}
		})
	}
}

func TestQueryV4L2Missing(t *testing.T) {
	if _, ok := queryV4L2(filepath.Join(t.TempDir(), "video9"), c920().ioctl); ok {
		t.Error("a missing node was listed")
	}
}

func FuzzDecodeV4L2(f *testing.F) {
	f.Add(encodeCapability("uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-1", c920Caps, c920VideoCaps))
	f.Add(encodeFmtDesc(1, "Motion-JPEG", "MJPG"))
	f.Add(encodeFrameSize(0, "YU12", frameSizeStepwise, 32, 2592, 2, 32, 1944, 2))
	f.Add(encodeFrameInterval(0, "YUYV", 720, 480, frameIvalDiscrete, 1001, 30000))
	f.Add(encodeFrameInterval(0, "YU12", 640, 480, frameIvalStepwise, 1, 90, 1, 1, 1, 90))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeCapability(b); err == nil {
			checkShowable(t, "card", c.Card)
			checkShowable(t, "driver", c.Driver)
		} else if len(b) >= capabilitySize {
			t.Errorf("decodeCapability of %d bytes: %v", len(b), err)
		}
		if d, err := decodeFmtDesc(b); err == nil {
			checkShowable(t, "description", d.Description)
		}
		if s, err := decodeFrameSize(b); err == nil {
			if s.MinWidth == 0 || s.MinHeight == 0 || s.MinWidth > s.MaxWidth || s.MinHeight > s.MaxHeight || s.StepWidth == 0 || s.StepHeight == 0 {
				t.Errorf("decodeFrameSize accepted %+v", s)
			}
		}
		if i, err := decodeFrameInterval(b); err == nil {
			if !(i.MinFPS > 0 && i.MinFPS <= i.MaxFPS) {
				t.Errorf("decodeFrameInterval accepted %+v", i)
			}
		}
		// The whole enumeration must end on any answers a driver gives.
		answer := func(_ uintptr, _ uint32, arg []byte) error {
			copy(arg, b)
			if len(b) > 0 && b[0]&1 == 1 {
				return errors.New("driver says no")
			}
			return nil
		}
		_ = v4l2Modes(0, answer)
	})
}
