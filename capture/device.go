package capture

import (
	"context"
	"fmt"
	"slices"
)

// Device is one capture device found on this machine.
type Device struct {
	// Kind is what the device captures.
	Kind Kind `json:"kind"`
	// Backend is the FFmpeg input format that opens it.
	Backend string `json:"backend"`
	// ID is what goes in a spec: ":99.0", "/dev/video0",
	// "pulse:alsa_input.pci-0000_00_1b.0.analog-stereo", "alsa:hw:0,0".
	ID string `json:"id"`
	// Name is the device's name for people.
	Name string `json:"name"`
	// Modes are the sizes, rates and formats the device reports, if it could be asked.
	Modes []Mode `json:"modes,omitempty"`
}

// Mode is one size/rate/format a device reports.
type Mode struct {
	// Width and Height are the picture size (screens, cameras).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// FPS are the frame rates offered at this size, fastest first; a camera with a
	// continuous range gives its two ends.
	FPS []float64 `json:"fps,omitempty"`
	// PixelFormat is the camera format as a spec's format= names it ("mjpeg", "yuyv422").
	PixelFormat string `json:"pixel_format,omitempty"`
	// SampleRate is the rate in Hz (microphones).
	SampleRate int `json:"sample_rate,omitempty"`
	// Channels is the channel count (microphones).
	Channels int `json:"channels,omitempty"`
}

// Discoverer finds devices; its fields are the outside world, so tests can replace them.
// The zero Discoverer looks at this machine. Only Linux is supported; elsewhere
// Discover returns an error wrapping ErrUnsupportedOS.
type Discoverer struct {
	// DevDir holds the V4L2 device nodes video0, video1, …; "" means "/dev".
	DevDir string
	// X11SocketDir holds the X servers' sockets X0, X1, …; "" means "/tmp/.X11-unix".
	X11SocketDir string
	// ProcAsound holds ALSA's pcm and cards files; "" means "/proc/asound".
	ProcAsound string
	// RunCommand runs a program (pactl) and returns its standard output; nil runs it
	// with os/exec.
	RunCommand func(ctx context.Context, name string, args ...string) ([]byte, error)
	// ScreenSize returns the size of an X11 display such as ":0.0"; nil lists screens
	// without modes, as does an error.
	ScreenSize func(ctx context.Context, display string) (width, height int, err error)
	// V4L2Ioctl performs a V4L2 ioctl on an open device, arg being the request's
	// structure in and out; nil makes the ioctl system call.
	V4L2Ioctl func(fd uintptr, req uint32, arg []byte) error
}

// Discover lists the screens, cameras and microphones of this machine, in that order.
// Missing tools, directories or devices are not errors: they give fewer devices. A
// device that cannot be queried is listed without modes.
func (d *Discoverer) Discover(ctx context.Context) ([]Device, error) {
	if d == nil {
		d = &Discoverer{}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("discover capture devices: %w", err)
	}
	devices, err := d.discover(ctx)
	if err != nil {
		return nil, fmt.Errorf("discover capture devices: %w", err)
	}
	// A device whose ID no spec can name is of no use to anyone.
	return slices.DeleteFunc(devices, func(dev Device) bool {
		s, err := ParseSpec(dev.Kind, dev.ID)
		return err != nil || s.Backend != dev.Backend
	}), nil
}
