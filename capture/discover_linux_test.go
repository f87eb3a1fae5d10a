package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// tree lays out files under a temporary directory and returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "/") {
			continue
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// camerasByPath routes ioctls to fake cameras by the path the descriptor was opened
// from; other files are no V4L2 devices.
func camerasByPath(cams map[string]*fakeCamera) func(uintptr, uint32, []byte) error {
	return func(fd uintptr, req uint32, arg []byte) error {
		path, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			return err
		}
		if cam, ok := cams[filepath.Base(path)]; ok {
			return cam.ioctl(fd, req, arg)
		}
		return unix.ENOTTY
	}
}

func TestDiscover(t *testing.T) {
	root := tree(t, map[string]string{
		"x11/X0": "", "x11/X99": "", "x11/X1/": "", "x11/X01": "", "x11/lock": "",
		"dev/video0": "", "dev/video1": "", "dev/video2": "", "dev/video": "", "dev/null": "",
		"asound/pcm": asoundPCMText, "asound/cards": asoundCardsText,
	})
	meta := c920()
	meta.capability = encodeCapability("uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-1", c920Caps, c920MetaCaps)
	var commands []string
	d := &Discoverer{
		DevDir:       filepath.Join(root, "dev"),
		X11SocketDir: filepath.Join(root, "x11"),
		ProcAsound:   filepath.Join(root, "asound"),
		RunCommand: func(_ context.Context, name string, args ...string) ([]byte, error) {
			commands = append(commands, strings.Join(append([]string{name}, args...), " "))
			return []byte(pactlPipeWire), nil
		},
		ScreenSize: func(_ context.Context, display string) (int, int, error) {
			if display == ":0.0" {
				return 2560, 1440, nil
			}
			return 0, 0, errors.New("cannot open display")
		},
		V4L2Ioctl: camerasByPath(map[string]*fakeCamera{"video0": c920(), "video1": meta}),
	}
	got, err := d.Discover(t.Context())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	want := []Device{
		{Kind: KindScreen, Backend: "x11grab", ID: ":0.0", Name: "X11 display :0", Modes: []Mode{{Width: 2560, Height: 1440}}},
		{Kind: KindScreen, Backend: "x11grab", ID: ":99.0", Name: "X11 display :99"},
		{Kind: KindCamera, Backend: "v4l2", ID: filepath.Join(root, "dev/video0"), Name: "HD Pro Webcam C920", Modes: c920Modes},
		{Kind: KindMicrophone, Backend: "pulse", ID: "pulse:alsa_input.pci-0000_00_1f.3.analog-stereo",
			Name: "alsa_input.pci-0000_00_1f.3.analog-stereo", Modes: []Mode{{SampleRate: 48000, Channels: 2}}},
		{Kind: KindMicrophone, Backend: "pulse", ID: "pulse:bluez_input.00_1B_66_81_8A_AB.0",
			Name: "bluez_input.00_1B_66_81_8A_AB.0", Modes: []Mode{{SampleRate: 16000, Channels: 1}}},
		{Kind: KindMicrophone, Backend: "alsa", ID: "alsa:hw:0,0", Name: "HDA Intel PCH: ALC3246 Analog"},
		{Kind: KindMicrophone, Backend: "alsa", ID: "alsa:hw:1,0", Name: "Yeti Stereo Microphone: USB Audio"},
	}
	if !slices.EqualFunc(got, want, func(a, b Device) bool {
		return a.Kind == b.Kind && a.Backend == b.Backend && a.ID == b.ID && a.Name == b.Name && equalModes(a.Modes, b.Modes)
	}) {
		t.Errorf("Discover =\n%+v\nwant\n%+v", got, want)
	}
	if !slices.Equal(commands, []string{"pactl list short sources"}) {
		t.Errorf("commands run = %q", commands)
	}
	for _, dev := range got {
		s, err := ParseSpec(dev.Kind, dev.ID)
		if err != nil || s.Backend != dev.Backend {
			t.Errorf("ParseSpec(%s, %q) = %+v, %v", dev.Kind, dev.ID, s, err)
		}
	}
}

func TestDiscoverNothing(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name string
		d    *Discoverer
	}{
		{"nothing there", &Discoverer{
			DevDir:       filepath.Join(root, "dev"),
			X11SocketDir: filepath.Join(root, "x11"),
			ProcAsound:   filepath.Join(root, "asound"),
			RunCommand: func(context.Context, string, ...string) ([]byte, error) {
				return nil, &exec.Error{Name: "pactl", Err: exec.ErrNotFound}
			},
		}},
		{"no sound server, no cards", &Discoverer{
			DevDir:       tree(t, map[string]string{"tty0": ""}),
			X11SocketDir: tree(t, map[string]string{}),
			ProcAsound:   tree(t, map[string]string{"pcm": "", "cards": "--- no soundcards ---\n"}),
			RunCommand: func(context.Context, string, ...string) ([]byte, error) {
				return []byte("Connection failure: Connection refused\n"), errors.New("exit status 1")
			},
		}},
		{"only monitors", &Discoverer{
			DevDir:       filepath.Join(root, "dev"),
			X11SocketDir: filepath.Join(root, "x11"),
			ProcAsound:   filepath.Join(root, "asound"),
			RunCommand: func(context.Context, string, ...string) ([]byte, error) {
				return []byte("0\talsa_output.pci-0000_00_1f.3.analog-stereo.monitor\tPipeWire\ts32le 2ch 48000Hz\tSUSPENDED\n"), nil
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.d.Discover(t.Context())
			if err != nil || len(got) != 0 {
				t.Errorf("Discover = %+v, %v; want nothing", got, err)
			}
		})
	}
}

func TestDiscoverCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	d := &Discoverer{
		X11SocketDir: tree(t, map[string]string{"X0": "", "X1": ""}),
		ScreenSize: func(context.Context, string) (int, int, error) {
			cancel()
			return 1920, 1080, nil
		},
	}
	got, err := d.Discover(ctx)
	if !errors.Is(err, context.Canceled) || got != nil {
		t.Errorf("Discover = %+v, %v; want context.Canceled", got, err)
	}
}

// TestDiscoverThisMachine runs discovery on the real system, whatever it holds.
func TestDiscoverThisMachine(t *testing.T) {
	devices, err := (&Discoverer{}).Discover(t.Context())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	for _, dev := range devices {
		t.Logf("%s %s %q %q (%d modes)", dev.Kind, dev.Backend, dev.ID, dev.Name, len(dev.Modes))
	}
}
