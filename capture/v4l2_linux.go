package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// V4L2 structures from linux/videodev2.h. They hold only 32-bit fields, so they have no
// padding and the same layout on every architecture; fields are in native byte order.
const (
	capabilitySize    = 104 // struct v4l2_capability
	fmtDescSize       = 64  // struct v4l2_fmtdesc
	frameSizeSize     = 44  // struct v4l2_frmsizeenum
	frameIntervalSize = 52  // struct v4l2_frmivalenum
)

// V4L2 constants from linux/videodev2.h.
const (
	capVideoCapture = 0x00000001 // V4L2_CAP_VIDEO_CAPTURE
	capDeviceCaps   = 0x80000000 // V4L2_CAP_DEVICE_CAPS

	bufTypeVideoCapture = 1 // V4L2_BUF_TYPE_VIDEO_CAPTURE

	frameSizeDiscrete   = 1 // V4L2_FRMSIZE_TYPE_DISCRETE
	frameSizeContinuous = 2 // V4L2_FRMSIZE_TYPE_CONTINUOUS
	frameSizeStepwise   = 3 // V4L2_FRMSIZE_TYPE_STEPWISE

	frameIvalDiscrete   = 1 // V4L2_FRMIVAL_TYPE_DISCRETE
	frameIvalContinuous = 2 // V4L2_FRMIVAL_TYPE_CONTINUOUS
	frameIvalStepwise   = 3 // V4L2_FRMIVAL_TYPE_STEPWISE
)

// maxEnum bounds each enumeration, which also stops at an answer for another index,
// so a driver that never says EINVAL cannot hold us.
const maxEnum = 256

// Numbers of the V4L2 ioctls discovery makes.
const (
	nrQueryCap           = 0  // VIDIOC_QUERYCAP, _IOR
	nrEnumFmt            = 2  // VIDIOC_ENUM_FMT, _IOWR
	nrEnumFrameSizes     = 74 // VIDIOC_ENUM_FRAMESIZES, _IOWR
	nrEnumFrameIntervals = 75 // VIDIOC_ENUM_FRAMEINTERVALS, _IOWR
)

// vidioc returns the ioctl request of a V4L2 ioctl number, encoded as linux/ioctl.h's
// _IOR and _IOWR do for type 'V'. Most architectures (amd64, arm64, 386, arm, riscv64,
// loong64, s390x) put two direction bits above 14 size bits; powerpc, mips and sparc
// three above 13, with another value for write.
func vidioc(nr uint32) uint32 {
	dirShift, read, write := uint32(30), uint32(2), uint32(1)
	switch runtime.GOARCH {
	case "ppc64", "ppc64le", "mips", "mipsle", "mips64", "mips64le", "sparc64":
		dirShift, read, write = 29, 2, 4
	}
	dir, size := read|write, uint32(0)
	switch nr {
	case nrQueryCap:
		dir, size = read, capabilitySize
	case nrEnumFmt:
		size = fmtDescSize
	case nrEnumFrameSizes:
		size = frameSizeSize
	case nrEnumFrameIntervals:
		size = frameIntervalSize
	}
	return dir<<dirShift | size<<16 | uint32('V')<<8 | nr
}

// v4l2Capability is the part of struct v4l2_capability discovery uses.
type v4l2Capability struct {
	Driver, Card, BusInfo string
	Version               uint32
	// Caps are the capabilities of this device node: device_caps when the driver
	// gives them, else those of the whole physical device.
	Caps uint32
}

// decodeCapability decodes struct v4l2_capability.
func decodeCapability(b []byte) (v4l2Capability, error) {
	if len(b) < capabilitySize {
		return v4l2Capability{}, fmt.Errorf("v4l2_capability of %d bytes, want %d", len(b), capabilitySize)
	}
	ne := binary.NativeEndian
	c := v4l2Capability{
		Driver:  cString(b[0:16]),
		Card:    cString(b[16:48]),
		BusInfo: cString(b[48:80]),
		Version: ne.Uint32(b[80:]),
		Caps:    ne.Uint32(b[84:]),
	}
	if c.Caps&capDeviceCaps != 0 {
		c.Caps = ne.Uint32(b[88:])
	}
	return c, nil
}

// v4l2FmtDesc is struct v4l2_fmtdesc without its reserved words.
type v4l2FmtDesc struct {
	Index, Type, Flags uint32
	Description        string
	PixelFormat        uint32
}

// decodeFmtDesc decodes struct v4l2_fmtdesc.
func decodeFmtDesc(b []byte) (v4l2FmtDesc, error) {
	if len(b) < fmtDescSize {
		return v4l2FmtDesc{}, fmt.Errorf("v4l2_fmtdesc of %d bytes, want %d", len(b), fmtDescSize)
	}
	ne := binary.NativeEndian
	return v4l2FmtDesc{
		Index:       ne.Uint32(b[0:]),
		Type:        ne.Uint32(b[4:]),
		Flags:       ne.Uint32(b[8:]),
		Description: cString(b[12:44]),
		PixelFormat: ne.Uint32(b[44:]),
	}, nil
}

// v4l2FrameSize is struct v4l2_frmsizeenum. A discrete size sets only MaxWidth and
// MaxHeight (equal to the Min ones); a continuous range has steps of 1.
type v4l2FrameSize struct {
	Index, PixelFormat, Type uint32
	MinWidth, MaxWidth       uint32
	StepWidth                uint32
	MinHeight, MaxHeight     uint32
	StepHeight               uint32
}

// decodeFrameSize decodes struct v4l2_frmsizeenum and checks that its sizes make sense.
func decodeFrameSize(b []byte) (v4l2FrameSize, error) {
	if len(b) < frameSizeSize {
		return v4l2FrameSize{}, fmt.Errorf("v4l2_frmsizeenum of %d bytes, want %d", len(b), frameSizeSize)
	}
	ne := binary.NativeEndian
	f := v4l2FrameSize{
		Index:       ne.Uint32(b[0:]),
		PixelFormat: ne.Uint32(b[4:]),
		Type:        ne.Uint32(b[8:]),
	}
	switch f.Type {
	case frameSizeDiscrete:
		f.MinWidth, f.MinHeight = ne.Uint32(b[12:]), ne.Uint32(b[16:])
		f.MaxWidth, f.MaxHeight = f.MinWidth, f.MinHeight
		f.StepWidth, f.StepHeight = 1, 1
	case frameSizeContinuous, frameSizeStepwise:
		f.MinWidth, f.MaxWidth, f.StepWidth = ne.Uint32(b[12:]), ne.Uint32(b[16:]), ne.Uint32(b[20:])
		f.MinHeight, f.MaxHeight, f.StepHeight = ne.Uint32(b[24:]), ne.Uint32(b[28:]), ne.Uint32(b[32:])
		if f.Type == frameSizeContinuous {
			f.StepWidth, f.StepHeight = 1, 1
		}
	default:
		return v4l2FrameSize{}, fmt.Errorf("unknown frame size type %d", f.Type)
	}
	if f.MinWidth == 0 || f.MinHeight == 0 || f.MinWidth > f.MaxWidth || f.MinHeight > f.MaxHeight ||
		f.StepWidth == 0 || f.StepHeight == 0 {
		return v4l2FrameSize{}, fmt.Errorf("impossible frame size %dx%d to %dx%d in steps of %dx%d",
			f.MinWidth, f.MinHeight, f.MaxWidth, f.MaxHeight, f.StepWidth, f.StepHeight)
	}
	return f, nil
}

// v4l2FrameInterval is struct v4l2_frmivalenum with its intervals as frame rates. A
// discrete interval sets MinFPS and MaxFPS alike.
type v4l2FrameInterval struct {
	Index, PixelFormat, Width, Height, Type uint32
	MinFPS, MaxFPS                          float64
}

// decodeFrameInterval decodes struct v4l2_frmivalenum. Intervals are fractions of a
// second, so the shortest interval is the highest rate.
func decodeFrameInterval(b []byte) (v4l2FrameInterval, error) {
	if len(b) < frameIntervalSize {
		return v4l2FrameInterval{}, fmt.Errorf("v4l2_frmivalenum of %d bytes, want %d", len(b), frameIntervalSize)
	}
	ne := binary.NativeEndian
	f := v4l2FrameInterval{
		Index:       ne.Uint32(b[0:]),
		PixelFormat: ne.Uint32(b[4:]),
		Width:       ne.Uint32(b[8:]),
		Height:      ne.Uint32(b[12:]),
		Type:        ne.Uint32(b[16:]),
	}
	rate := func(off int) (float64, bool) {
		num, den := ne.Uint32(b[off:]), ne.Uint32(b[off+4:])
		if num == 0 || den == 0 {
			return 0, false
		}
		fps := math.Round(float64(den)/float64(num)*1000) / 1000
		return fps, fps > 0
	}
	var okMin, okMax bool
	switch f.Type {
	case frameIvalDiscrete:
		f.MaxFPS, okMax = rate(20)
		f.MinFPS, okMin = f.MaxFPS, okMax
	case frameIvalContinuous, frameIvalStepwise:
		// min interval, max interval, step.
		f.MaxFPS, okMax = rate(20)
		f.MinFPS, okMin = rate(28)
	default:
		return v4l2FrameInterval{}, fmt.Errorf("unknown frame interval type %d", f.Type)
	}
	if !okMin || !okMax || f.MinFPS > f.MaxFPS {
		return v4l2FrameInterval{}, errors.New("frame interval with a zero term, of over 1000 s or a reversed range")
	}
	return f, nil
}

// cString returns the NUL-terminated text at the start of b, cleaned for display.
func cString(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return cleanName(string(b))
}

// fourcc packs a V4L2 pixel format code.
func fourcc(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// ffmpegFormat names a V4L2 pixel format as FFmpeg's v4l2 input_format takes it, or ""
// when FFmpeg cannot read it.
func ffmpegFormat(code uint32) string {
	b := []byte{byte(code), byte(code >> 8), byte(code >> 16), byte(code >> 24)}
	switch string(b) {
	case "YUYV":
		return "yuyv422"
	case "UYVY":
		return "uyvy422"
	case "YU12", "YV12":
		return "yuv420p"
	case "422P":
		return "yuv422p"
	case "411P":
		return "yuv411p"
	case "NV12":
		return "nv12"
	case "GREY":
		return "gray"
	case "Y16 ":
		return "gray16le"
	case "RGB3":
		return "rgb24"
	case "BGR3":
		return "bgr24"
	case "RGB4":
		return "0rgb"
	case "BGR4":
		return "bgr0"
	case "MJPG", "JPEG":
		return "mjpeg"
	case "H264":
		return "h264"
	case "MPG4":
		return "mpeg4"
	case "BA81":
		return "bayer_bggr8"
	case "GBRG":
		return "bayer_gbrg8"
	case "GRBG":
		return "bayer_grbg8"
	case "RGGB":
		return "bayer_rggb8"
	}
	return ""
}

// v4l2Ioctl is a V4L2 ioctl: arg is the request's structure, in and out.
type v4l2Ioctl func(fd uintptr, req uint32, arg []byte) error

// sysIoctl makes the ioctl system call, retrying when a signal interrupts it.
func sysIoctl(fd uintptr, req uint32, arg []byte) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(unsafe.Pointer(&arg[0])))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return errno
	}
}

// queryV4L2 asks the device node at path what it is. ok is false for nodes that are
// not video capture devices (metadata nodes, encoders, radios, other files). A node
// that exists but cannot be opened (no permission) is listed without modes.
func queryV4L2(path string, ioctl v4l2Ioctl) (dev Device, ok bool) {
	dev = Device{Kind: KindCamera, Backend: backendV4L2, ID: path, Name: filepath.Base(path)}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return dev, errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY)
	}
	defer unix.Close(fd)
	buf := make([]byte, capabilitySize)
	if err := ioctl(uintptr(fd), vidioc(nrQueryCap), buf); err != nil {
		return dev, false
	}
	c, err := decodeCapability(buf)
	if err != nil || c.Caps&capVideoCapture == 0 {
		return dev, false
	}
	if c.Card != "" {
		dev.Name = c.Card
	}
	dev.Modes = v4l2Modes(uintptr(fd), ioctl)
	return dev, true
}

// v4l2Modes lists every format FFmpeg can read at every size the device offers, with
// the rates at each.
func v4l2Modes(fd uintptr, ioctl v4l2Ioctl) []Mode {
	var modes []Mode
	ne := binary.NativeEndian
	for i := range uint32(maxEnum) {
		buf := make([]byte, fmtDescSize)
		ne.PutUint32(buf[0:], i)
		ne.PutUint32(buf[4:], bufTypeVideoCapture)
		if ioctl(fd, vidioc(nrEnumFmt), buf) != nil {
			break
		}
		desc, err := decodeFmtDesc(buf)
		if err != nil || desc.Index != i {
			break
		}
		format := ffmpegFormat(desc.PixelFormat)
		if format == "" {
			continue
		}
		sizes := v4l2Sizes(fd, ioctl, desc.PixelFormat)
		if len(sizes) == 0 {
			modes = append(modes, Mode{PixelFormat: format})
			continue
		}
		for _, size := range sizes {
			modes = append(modes, Mode{
				Width:       size[0],
				Height:      size[1],
				FPS:         v4l2Rates(fd, ioctl, desc.PixelFormat, size[0], size[1]),
				PixelFormat: format,
			})
		}
	}
	return modes
}

// v4l2Sizes lists the frame sizes of one pixel format. For a range it gives the common
// sizes that fit the range and its steps, and the largest size.
func v4l2Sizes(fd uintptr, ioctl v4l2Ioctl, pixelFormat uint32) [][2]int {
	// Offered from a range of sizes where they fit.
	commonSizes := [...][2]int{{640, 480}, {1280, 720}, {1920, 1080}, {3840, 2160}}
	var sizes [][2]int
	ne := binary.NativeEndian
	for i := range uint32(maxEnum) {
		buf := make([]byte, frameSizeSize)
		ne.PutUint32(buf[0:], i)
		ne.PutUint32(buf[4:], pixelFormat)
		if ioctl(fd, vidioc(nrEnumFrameSizes), buf) != nil {
			break
		}
		f, err := decodeFrameSize(buf)
		if err != nil || f.Index != i {
			break
		}
		if f.Type == frameSizeDiscrete {
			sizes = append(sizes, [2]int{int(f.MaxWidth), int(f.MaxHeight)})
			continue
		}
		for _, c := range commonSizes {
			if fitsRange(uint32(c[0]), f.MinWidth, f.MaxWidth, f.StepWidth) &&
				fitsRange(uint32(c[1]), f.MinHeight, f.MaxHeight, f.StepHeight) {
				sizes = append(sizes, c)
			}
		}
		largest := [2]int{int(f.MaxWidth), int(f.MaxHeight)}
		if !slices.Contains(sizes, largest) {
			sizes = append(sizes, largest)
		}
		break // A range is the only entry.
	}
	return sizes
}

func fitsRange(v, lo, hi, step uint32) bool {
	return v >= lo && v <= hi && (v-lo)%step == 0
}

// v4l2Rates lists the frame rates of one format and size, fastest first.
func v4l2Rates(fd uintptr, ioctl v4l2Ioctl, pixelFormat uint32, width, height int) []float64 {
	var rates []float64
	ne := binary.NativeEndian
	for i := range uint32(maxEnum) {
		buf := make([]byte, frameIntervalSize)
		ne.PutUint32(buf[0:], i)
		ne.PutUint32(buf[4:], pixelFormat)
		ne.PutUint32(buf[8:], uint32(width))
		ne.PutUint32(buf[12:], uint32(height))
		if ioctl(fd, vidioc(nrEnumFrameIntervals), buf) != nil {
			break
		}
		f, err := decodeFrameInterval(buf)
		if err != nil || f.Index != i {
			break
		}
		rates = append(rates, f.MaxFPS)
		if f.Type != frameIvalDiscrete {
			rates = append(rates, f.MinFPS)
			break // A range is the only entry.
		}
	}
	slices.Sort(rates)
	slices.Reverse(rates)
	return slices.Compact(rates)
}
