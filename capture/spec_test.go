package capture

import (
	"errors"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		kind Kind
		text string
		want Spec
		// canonical is the String of the result when it differs from text.
		canonical string
	}{
		// Screens.
		{KindScreen, "", Spec{Kind: KindScreen, Backend: DefaultBackend(KindScreen), FPS: 30, Cursor: true}, ""},
		{KindScreen, ":99", Spec{Kind: KindScreen, Backend: "x11grab", Device: ":99", FPS: 30, Cursor: true}, ""},
		{KindScreen, ":99.0,size=1280x720,at=10+20,fps=15,cursor=false",
			Spec{Kind: KindScreen, Backend: "x11grab", Device: ":99.0", Width: 1280, Height: 720, X: 10, Y: 20, FPS: 15}, ""},
		{KindScreen, " :0 , fps = 25 ,cursor=true", Spec{Kind: KindScreen, Backend: "x11grab", Device: ":0", FPS: 25, Cursor: true}, ":0,fps=25"},
		{KindScreen, "localhost:10.0", Spec{Kind: KindScreen, Backend: "x11grab", Device: "localhost:10.0", FPS: 30, Cursor: true}, ""},
		{KindScreen, "x11grab::1", Spec{Kind: KindScreen, Backend: "x11grab", Device: ":1", FPS: 30, Cursor: true}, ":1"},
		{KindScreen, "synthetic", Spec{Kind: KindScreen, Backend: "lavfi", Device: "synthetic", Width: 1920, Height: 1080, FPS: 30, Cursor: true}, ""},
		{KindScreen, "synthetic,size=640x480,fps=60",
			Spec{Kind: KindScreen, Backend: "lavfi", Device: "synthetic", Width: 640, Height: 480, FPS: 60, Cursor: true}, ""},
		{KindScreen, "synthetic,size=1920x1080,fps=30", Spec{Kind: KindScreen, Backend: "lavfi", Device: "synthetic", Width: 1920, Height: 1080, FPS: 30, Cursor: true}, "synthetic"},
		{KindScreen, "desktop,size=1280x720,at=0+0", Spec{Kind: KindScreen, Backend: "gdigrab", Device: "desktop", Width: 1280, Height: 720, FPS: 30, Cursor: true}, "desktop,size=1280x720"},
		{KindScreen, "desktop,size=1280x720,at=1920+0", Spec{Kind: KindScreen, Backend: "gdigrab", Device: "desktop", Width: 1280, Height: 720, X: 1920, FPS: 30, Cursor: true}, ""},
		{KindScreen, "avfoundation:Capture screen 1,fps=60", Spec{Kind: KindScreen, Backend: "avfoundation", Device: "Capture screen 1", FPS: 60, Cursor: true}, ""},
		{KindScreen, "fps=030,cursor=false", Spec{Kind: KindScreen, Backend: DefaultBackend(KindScreen), FPS: 30}, "cursor=false"},
		// Cameras.
		{KindCamera, "", Spec{Kind: KindCamera, Backend: DefaultBackend(KindCamera), FPS: 30}, ""},
		{KindCamera, "/dev/video2,size=1920x1080,fps=60,format=mjpeg",
			Spec{Kind: KindCamera, Backend: "v4l2", Device: "/dev/video2", Width: 1920, Height: 1080, FPS: 60, PixelFormat: "mjpeg"}, ""},
		{KindCamera, "/dev/v4l/by-path/pci-0000:00:14.0-usb-0:1:1.0-video-index0",
			Spec{Kind: KindCamera, Backend: "v4l2", Device: "/dev/v4l/by-path/pci-0000:00:14.0-usb-0:1:1.0-video-index0", FPS: 30}, ""},
		{KindCamera, "v4l2:/dev/video1", Spec{Kind: KindCamera, Backend: "v4l2", Device: "/dev/video1", FPS: 30}, "/dev/video1"},
		{KindCamera, "synthetic", Spec{Kind: KindCamera, Backend: "lavfi", Device: "synthetic", Width: 1280, Height: 720, FPS: 30}, ""},
		{KindCamera, "dshow:Integrated Camera,size=1280x720,format=mjpeg",
			Spec{Kind: KindCamera, Backend: "dshow", Device: "Integrated Camera", Width: 1280, Height: 720, FPS: 30, PixelFormat: "mjpeg"}, ""},
		{KindCamera, "avfoundation:FaceTime HD Camera", Spec{Kind: KindCamera, Backend: "avfoundation", Device: "FaceTime HD Camera", FPS: 30}, ""},
		// Microphones.
		{KindMicrophone, "", Spec{Kind: KindMicrophone, Backend: DefaultBackend(KindMicrophone)}, ""},
		{KindMicrophone, "pulse:default", Spec{Kind: KindMicrophone, Backend: "pulse", Device: "default"}, ""},
		{KindMicrophone, "pulse:alsa_input.pci-0000_00_1b.0.analog-stereo,rate=44100,channels=2",
			Spec{Kind: KindMicrophone, Backend: "pulse", Device: "alsa_input.pci-0000_00_1b.0.analog-stereo", SampleRate: 44100, Channels: 2}, ""},
		{KindMicrophone, "alsa:hw:0,0,rate=48000", Spec{Kind: KindMicrophone, Backend: "alsa", Device: "hw:0,0", SampleRate: 48000}, ""},
		{KindMicrophone, "alsa:plughw:CARD=PCH,DEV=0", Spec{Kind: KindMicrophone, Backend: "alsa", Device: "plughw:CARD=PCH,DEV=0"}, ""},
		{KindMicrophone, "alsa:", Spec{Kind: KindMicrophone, Backend: "alsa"}, ""},
		{KindMicrophone, "synthetic", Spec{Kind: KindMicrophone, Backend: "lavfi", Device: "synthetic", SampleRate: 48000, Channels: 1}, ""},
		{KindMicrophone, "synthetic,channels=2", Spec{Kind: KindMicrophone, Backend: "lavfi", Device: "synthetic", SampleRate: 48000, Channels: 2}, ""},
		{KindMicrophone, "pulse:synthetic", Spec{Kind: KindMicrophone, Backend: "pulse", Device: "synthetic"}, ""},
		{KindMicrophone, "dshow:Microphone (Realtek(R) Audio)", Spec{Kind: KindMicrophone, Backend: "dshow", Device: "Microphone (Realtek(R) Audio)"}, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.text, func(t *testing.T) {
			got, err := ParseSpec(tt.kind, tt.text)
			if err != nil {
				t.Fatalf("ParseSpec: %v", err)
			}
			if got != tt.want {
				t.Fatalf("ParseSpec = %+v, want %+v", got, tt.want)
			}
			canonical := tt.canonical
			if canonical == "" {
				canonical = tt.text
			}
			if strings.TrimSpace(tt.text) == "" && got.Backend == DefaultBackend(tt.kind) {
				canonical = ""
			}
			if s := got.String(); s != canonical {
				t.Errorf("String = %q, want %q", s, canonical)
			}
			again, err := ParseSpec(tt.kind, got.String())
			if err != nil || again != got {
				t.Errorf("ParseSpec(String()) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		kind Kind
		text string
		want string
	}{
		{KindCamera, "size=12x", `camera spec "size=12x": size must be WIDTHxHEIGHT such as 1280x720`},
		{KindCamera, "size=1280*720", `camera spec "size=1280*720": size must be WIDTHxHEIGHT such as 1280x720`},
		{KindScreen, "size=20x10", `screen spec "size=20x10": size 20x10: width must be 16 to 7680 and height 16 to 4320`},
		{KindScreen, "size=8192x4320", `screen spec "size=8192x4320": size 8192x4320: width must be 16 to 7680 and height 16 to 4320`},
		{KindScreen, "size=1281x720", `screen spec "size=1281x720": size 1281x720: width and height must be even`},
		{KindScreen, "fps=0", `screen spec "fps=0": fps must be a whole number from 1 to 120`},
		{KindScreen, "fps=121", `screen spec "fps=121": fps must be a whole number from 1 to 120`},
		{KindCamera, "fps=29.97", `camera spec "fps=29.97": fps must be a whole number from 1 to 120`},
		{KindScreen, "fps=-5", `screen spec "fps=-5": fps must be a whole number from 1 to 120`},
		{KindScreen, "cursor=yes", `screen spec "cursor=yes": cursor must be true or false`},
		{KindScreen, "size=640x480,at=10,20", `screen spec "size=640x480,at=10,20": device part "20" must come before the options`},
		{KindScreen, "size=640x480,at=10x20", `screen spec "size=640x480,at=10x20": at must be X+Y such as 0+0 or 1920+0`},
		{KindScreen, "size=640x480,at=9000+0", `screen spec "size=640x480,at=9000+0": at 9000+0: x must be 0 to 7680 and y 0 to 4320`},
		{KindScreen, ":0,at=10+20", `screen spec ":0,at=10+20": at needs size too, so that the region fits on the screen`},
		{KindScreen, "synthetic,size=640x480,at=0+0", `screen spec "synthetic,size=640x480,at=0+0": option at does not apply to the synthetic screen`},
		{KindScreen, "synthetic,cursor=false", `screen spec "synthetic,cursor=false": option cursor does not apply to the synthetic screen`},
		{KindScreen, "avfoundation:Capture screen 0,size=640x480,at=0+0",
			`screen spec "avfoundation:Capture screen 0,size=640x480,at=0+0": avfoundation cannot capture part of a screen; remove at`},
		{KindScreen, "x11grab:foo", `screen spec "x11grab:foo": X11 display "foo" must look like :0 or :99.0`},
		{KindScreen, "x11grab::0+10,20", `screen spec "x11grab::0+10,20": X11 display ":0+10,20" must look like :0 or :99.0`},
		{KindScreen, "gdigrab:title=Zoom", `screen spec "gdigrab:title=Zoom": gdigrab captures only "desktop", not "title=Zoom"`},
		{KindScreen, "format=mjpeg", `screen spec "format=mjpeg": option format does not apply to a screen; a screen takes size, at, fps, cursor`},
		{KindCamera, "rate=48000", `camera spec "rate=48000": option rate does not apply to a camera; a camera takes size, fps, format`},
		{KindCamera, "size=640x480,fsp=30", `camera spec "size=640x480,fsp=30": unknown option "fsp"; a camera takes size, fps, format`},
		{KindCamera, "video=Integrated Camera", `camera spec "video=Integrated Camera": unknown option "video"; a camera takes size, fps, format`},
		{KindCamera, "fps=30,fps=25", `camera spec "fps=30,fps=25": option fps is given twice`},
		{KindCamera, "size=640x480,,fps=30", `camera spec "size=640x480,,fps=30": empty item between commas`},
		{KindCamera, "/dev/video0,", `camera spec "/dev/video0,": empty item between commas`},
		{KindCamera, "v4l2:video0", `camera spec "v4l2:video0": V4L2 device "video0" must be a path such as /dev/video0`},
		{KindCamera, "dshow:Cam:1", `camera spec "dshow:Cam:1": dshow device name "Cam:1" must not contain ':'`},
		{KindCamera, "dshow:", `camera spec "dshow:": dshow has no default camera; name one (list devices to see them)`},
		{KindCamera, "synthetic,format=mjpeg", `camera spec "synthetic,format=mjpeg": option format does not apply to the synthetic camera`},
		{KindCamera, "format=MJPEG", `camera spec "format=MJPEG": format must be a pixel format name such as mjpeg or yuyv422`},
		{KindMicrophone, "rate=1000", `microphone spec "rate=1000": rate must be a sample rate from 8000 to 384000 Hz`},
		{KindMicrophone, "channels=0", `microphone spec "channels=0": channels must be a whole number from 1 to 32`},
		{KindMicrophone, "alsa:hw:0,dev=0", `microphone spec "alsa:hw:0,dev=0": unknown option "dev"; a microphone takes rate, channels`},
		{KindMicrophone, "pulse:a\x01b", `microphone spec "pulse:a\x01b": the device name contains a control character`},
		{KindMicrophone, "fps=30", `microphone spec "fps=30": option fps does not apply to a microphone; a microphone takes rate, channels`},
		{KindMicrophone, "\xff", `microphone spec "\xff": not valid UTF-8`},
		{KindMicrophone, strings.Repeat("a", 1025), fmt.Sprintf("microphone spec %q: longer than 1024 bytes", strings.Repeat("a", 1025))},
		{KindMicrophone, "pulse:" + strings.Repeat("0", 257), fmt.Sprintf("microphone spec %q: the device name is longer than 256 bytes", "pulse:"+strings.Repeat("0", 257))},
		{"video", "", `capture spec "": unknown kind "video"; want screen, camera or microphone`},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.text, func(t *testing.T) {
			got, err := ParseSpec(tt.kind, tt.text)
			if err == nil {
				t.Fatalf("ParseSpec = %+v, want error %q", got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\n         want %q", err, tt.want)
			}
			if !errors.Is(err, ErrBadSpec) {
				t.Errorf("error %v does not wrap ErrBadSpec", err)
			}
		})
	}
}

func TestSpecURLOptions(t *testing.T) {
	tests := []struct {
		kind    Kind
		text    string
		url     string
		options map[string]string
	}{
		{KindScreen, "x11grab:", ":0.0", map[string]string{"framerate": "30", "draw_mouse": "1"}},
		{KindScreen, ":99.0,size=1280x720,at=10+20,fps=15,cursor=false", ":99.0+10,20",
			map[string]string{"video_size": "1280x720", "framerate": "15", "draw_mouse": "0"}},
		{KindScreen, "synthetic", "", nil},
		{KindScreen, "desktop,size=1280x720,at=100+200,fps=10", "desktop",
			map[string]string{"video_size": "1280x720", "offset_x": "100", "offset_y": "200", "framerate": "10", "draw_mouse": "1"}},
		{KindScreen, "gdigrab:", "desktop", map[string]string{"framerate": "30", "draw_mouse": "1"}},
		{KindScreen, "avfoundation:,cursor=false", "Capture screen 0:none", map[string]string{"framerate": "30", "capture_cursor": "0"}},
		{KindScreen, "avfoundation:1", "1:none", map[string]string{"framerate": "30", "capture_cursor": "1"}},
		{KindCamera, "v4l2:", "/dev/video0", map[string]string{"framerate": "30"}},
		{KindCamera, "/dev/video2,size=1920x1080,fps=60,format=mjpeg", "/dev/video2",
			map[string]string{"video_size": "1920x1080", "framerate": "60", "input_format": "mjpeg"}},
		{KindCamera, "synthetic", "", nil},
		{KindCamera, "dshow:Integrated Camera,size=1280x720,format=mjpeg", "video=Integrated Camera",
			map[string]string{"video_size": "1280x720", "framerate": "30", "vcodec": "mjpeg"}},
		{KindCamera, "dshow:Integrated Camera,format=yuyv422", "video=Integrated Camera",
			map[string]string{"framerate": "30", "pixel_format": "yuyv422"}},
		{KindCamera, "avfoundation:", "default:none", map[string]string{"framerate": "30"}},
		{KindCamera, "avfoundation:FaceTime HD Camera,format=uyvy422,size=1280x720", "FaceTime HD Camera:none",
			map[string]string{"video_size": "1280x720", "framerate": "30", "pixel_format": "uyvy422"}},
		{KindMicrophone, "pulse:", "default", map[string]string{}},
		{KindMicrophone, "pulse:alsa_input.usb-Blue_Yeti-00.analog-stereo,rate=48000,channels=2",
			"alsa_input.usb-Blue_Yeti-00.analog-stereo", map[string]string{"sample_rate": "48000", "channels": "2"}},
		{KindMicrophone, "alsa:hw:0,0,rate=44100", "hw:0,0", map[string]string{"sample_rate": "44100"}},
		{KindMicrophone, "alsa:", "default", map[string]string{}},
		{KindMicrophone, "synthetic", "", nil},
		{KindMicrophone, "dshow:Microphone (USB Audio),channels=1", "audio=Microphone (USB Audio)", map[string]string{"channels": "1"}},
		{KindMicrophone, "avfoundation:,rate=48000", "none:default", map[string]string{}},
		{KindMicrophone, "avfoundation:MacBook Pro Microphone", "none:MacBook Pro Microphone", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.text, func(t *testing.T) {
			s, err := ParseSpec(tt.kind, tt.text)
			if err != nil {
				t.Fatalf("ParseSpec: %v", err)
			}
			if got := s.URL(); got != tt.url {
				t.Errorf("URL = %q, want %q", got, tt.url)
			}
			if got := s.Options(); !maps.Equal(got, tt.options) || (got == nil) != (tt.options == nil) {
				t.Errorf("Options = %v, want %v", got, tt.options)
			}
		})
	}
}

func TestSpecWithDisplay(t *testing.T) {
	x11 := Spec{Kind: KindScreen, Backend: "x11grab", FPS: 30, Cursor: true}
	tests := []struct {
		name    string
		spec    Spec
		display string
		want    string
	}{
		{"default display replaced", x11, ":1", ":1"},
		{"remote display", x11, "localhost:10.0", "localhost:10.0"},
		{"empty $DISPLAY", x11, "", ""},
		{"malformed $DISPLAY", x11, "/private/tmp/com.apple.launchd.x/org.xquartz:0", ""},
		{"named display kept", Spec{Kind: KindScreen, Backend: "x11grab", Device: ":99"}, ":1", ":99"},
		{"not x11grab", Spec{Kind: KindScreen, Backend: "gdigrab"}, ":1", ""},
		{"not a screen", Spec{Kind: KindCamera, Backend: "x11grab"}, ":1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.spec.WithDisplay(tt.display)
			if got.Device != tt.want {
				t.Errorf("Device = %q, want %q", got.Device, tt.want)
			}
			got.Device = tt.spec.Device
			if got != tt.spec {
				t.Errorf("WithDisplay changed more than Device: %+v", got)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	want := map[string]map[Kind][2]string{
		"linux":   {KindScreen: {"x11grab", ":0.0"}, KindCamera: {"v4l2", "/dev/video0"}, KindMicrophone: {"pulse", "default"}},
		"windows": {KindScreen: {"gdigrab", "desktop"}, KindCamera: {"dshow", ""}, KindMicrophone: {"dshow", ""}},
		"darwin":  {KindScreen: {"avfoundation", "Capture screen 0"}, KindCamera: {"avfoundation", "default"}, KindMicrophone: {"avfoundation", "default"}},
	}[runtime.GOOS]
	if want == nil {
		t.Skipf("no expectations for %s", runtime.GOOS)
	}
	for kind, w := range want {
		t.Run(string(kind), func(t *testing.T) {
			if got := DefaultBackend(kind); got != w[0] {
				t.Errorf("DefaultBackend = %q, want %q", got, w[0])
			}
			if got := DefaultDevice(kind); got != w[1] {
				t.Errorf("DefaultDevice = %q, want %q", got, w[1])
			}
		})
	}
}

func TestSynthetic(t *testing.T) {
	for _, kind := range []Kind{KindScreen, KindCamera, KindMicrophone} {
		t.Run(string(kind), func(t *testing.T) {
			s, err := ParseSpec(kind, "synthetic")
			if err != nil || !s.Synthetic() {
				t.Fatalf("ParseSpec(synthetic) = %+v, %v; want a synthetic spec", s, err)
			}
			if s, _ := ParseSpec(kind, ""); s.Synthetic() {
				t.Errorf("the default %s is synthetic", kind)
			}
		})
	}
}

func ExampleParseSpec() {
	s, err := ParseSpec(KindMicrophone, "alsa:hw:1,0,rate=48000,channels=2")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Backend, s.URL(), s.Options()["sample_rate"], s.Options()["channels"])
	fmt.Println(s)

	_, err = ParseSpec(KindCamera, "/dev/video0,size=1280")
	fmt.Println(err)
	// Output:
	// alsa hw:1,0 48000 2
	// alsa:hw:1,0,rate=48000,channels=2
	// camera spec "/dev/video0,size=1280": size must be WIDTHxHEIGHT such as 1280x720
}

func FuzzParseSpec(f *testing.F) {
	kinds := []Kind{KindScreen, KindCamera, KindMicrophone}
	seeds := []string{
		"", ":99", ":99.0,size=1280x720,at=10+20,fps=15,cursor=false", "synthetic,size=640x480",
		"desktop,at=0+0,size=640x480", "/dev/video0,format=mjpeg,fps=60", "dshow:Integrated Camera",
		"avfoundation:Capture screen 0", "pulse:alsa_input.pci-0000_00_1b.0.analog-stereo,rate=44100",
		"alsa:hw:0,0,rate=48000,channels=2", "alsa:plughw:CARD=PCH,DEV=0", "x11grab::0", "pulse: a , b ",
		"size=12x", "a,b=c,d", "pulse:,", "=", "A=b,rate=8000",
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, k uint8, text string) {
		kind := kinds[int(k)%len(kinds)]
		s, err := ParseSpec(kind, text)
		if err != nil {
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("error %v does not wrap ErrBadSpec", err)
			}
			return
		}
		again, err := ParseSpec(kind, s.String())
		if err != nil {
			t.Fatalf("ParseSpec(%q) = %+v, but ParseSpec(String() = %q): %v", text, s, s.String(), err)
		}
		if again != s {
			t.Fatalf("ParseSpec(%q) = %+v, but ParseSpec(String() = %q) = %+v", text, s, s.String(), again)
		}
		if s.Synthetic() != (s.URL() == "") {
			t.Fatalf("spec %+v: Synthetic %v but URL %q", s, s.Synthetic(), s.URL())
		}
		_ = s.Options()
	})
}
