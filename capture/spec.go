package capture

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is what a source captures.
type Kind string

// The kinds of source.
const (
	KindScreen     Kind = "screen"
	KindCamera     Kind = "camera"
	KindMicrophone Kind = "microphone"
)

func (k Kind) valid() bool {
	return k == KindScreen || k == KindCamera || k == KindMicrophone
}

// FFmpeg input formats a Spec can name.
const (
	backendX11Grab      = "x11grab"
	backendV4L2         = "v4l2"
	backendPulse        = "pulse"
	backendALSA         = "alsa"
	backendLavfi        = "lavfi"
	backendGDIGrab      = "gdigrab"
	backendDShow        = "dshow"
	backendAVFoundation = "avfoundation"
)

// syntheticDevice is the device text of the built-in lavfi source.
const syntheticDevice = "synthetic"

// Limits and defaults of spec values.
const (
	minWidth, maxWidth   = 16, 7680
	minHeight, maxHeight = 16, 4320
	maxFPS               = 120
	minRate, maxRate     = 8000, 384000
	maxChannels          = 32
	maxSpecLen           = 1024
	maxDeviceLen         = 256
	maxFormatLen         = 32

	defaultFPS = 30

	syntheticScreenWidth, syntheticScreenHeight = 1920, 1080
	syntheticCameraWidth, syntheticCameraHeight = 1280, 720
	syntheticRate, syntheticChannels            = 48000, 1
)

// Spec says which device to open and how.
type Spec struct {
	// Kind is what the device captures.
	Kind Kind
	// Backend is the FFmpeg input format: "x11grab", "v4l2", "pulse", "alsa", "lavfi",
	// "gdigrab", "dshow" or "avfoundation".
	Backend string
	// Device is the device part as the user named it, without a backend prefix: ":99.0",
	// "/dev/video0", "default", "hw:0", "desktop", "synthetic". Empty means the backend's
	// default device (see DefaultDevice and URL).
	Device string
	// Width and Height are the picture size; 0 means the device default.
	Width, Height int
	// X and Y are the offset of a screen region.
	X, Y int
	// FPS is the frame rate; 0 means the device default.
	FPS int
	// Cursor draws the mouse pointer into screen captures.
	Cursor bool
	// PixelFormat is the camera format such as "mjpeg" or "yuyv422"; "" means the
	// device default.
	PixelFormat string
	// SampleRate is the microphone rate in Hz; 0 means the device default.
	SampleRate int
	// Channels is the microphone channel count; 0 means the device default.
	Channels int
}

// Synthetic reports whether the spec names the built-in synthetic (lavfi) source.
func (s Spec) Synthetic() bool { return s.Backend == backendLavfi }

// DefaultDevice returns the device that an empty device part means on this operating
// system, or "" when the default backend has none (dshow needs a name).
func DefaultDevice(kind Kind) string {
	return backendDefaultDevice(kind, DefaultBackend(kind))
}

// backendDefaultDevice is the device an empty Spec.Device means for a backend.
func backendDefaultDevice(kind Kind, backend string) string {
	switch backend {
	case backendX11Grab:
		return ":0.0"
	case backendV4L2:
		return "/dev/video0"
	case backendPulse, backendALSA:
		return "default"
	case backendGDIGrab:
		return "desktop"
	case backendAVFoundation:
		if kind == KindScreen {
			return "Capture screen 0"
		}
		return "default"
	case backendLavfi:
		return syntheticDevice
	}
	return ""
}

// prefixBackends lists the backends a device part may name as "backend:device".
func prefixBackends(kind Kind) []string {
	switch kind {
	case KindScreen:
		return []string{backendX11Grab, backendGDIGrab, backendAVFoundation}
	case KindCamera:
		return []string{backendV4L2, backendDShow, backendAVFoundation}
	case KindMicrophone:
		return []string{backendPulse, backendALSA, backendDShow, backendAVFoundation}
	}
	return nil
}

// optionKeys lists the options each kind takes, in canonical order.
func optionKeys(kind Kind) []string {
	switch kind {
	case KindScreen:
		return []string{"size", "at", "fps", "cursor"}
	case KindCamera:
		return []string{"size", "fps", "format"}
	case KindMicrophone:
		return []string{"rate", "channels"}
	}
	return nil
}

// isOptionKey reports whether key is an option of any kind.
func isOptionKey(key string) bool {
	switch key {
	case "size", "at", "fps", "cursor", "format", "rate", "channels":
		return true
	}
	return false
}

// ParseSpec parses a command-line spec for a source of the given kind.
//
// A spec is an optional device part followed by comma-separated key=value options:
//
//	[DEVICE][,key=value]...
//
// An item counts as an option when the text before its first '=' is a lower-case word;
// every other item belongs to the device part, which must come first and may itself
// contain commas and colons ("alsa:hw:0,0,rate=48000" is device "hw:0,0" at 48 kHz).
// ALSA arguments therefore have to be upper case, as ALSA writes them
// ("alsa:plughw:CARD=PCH,DEV=0"). Spaces around items are ignored.
//
// The device part may start with a backend, "BACKEND:DEVICE"; without one the backend
// follows from the form of the device and otherwise is DefaultBackend(kind):
//
//	""              the default device of DefaultBackend(kind)
//	"synthetic"     the built-in lavfi test source (any kind)
//	":99", ":99.0"  X11 display (x11grab screen); "host:0.0" also works
//	"desktop"       gdigrab screen
//	"/dev/video0"   V4L2 camera (any absolute path)
//	"x11grab:…", "gdigrab:…", "avfoundation:…"            screens
//	"v4l2:…", "dshow:NAME", "avfoundation:NAME"             cameras
//	"pulse:NAME", "alsa:NAME", "dshow:NAME", "avfoundation:NAME"  microphones
//
// Options, each at most once:
//
//	size=WxH      screen, camera: 16..7680 x 16..4320, both even
//	at=X+Y        screen: region offset, 0..7680 + 0..4320; needs size
//	fps=N         screen, camera: 1..120
//	cursor=B      screen: true or false, draw the mouse pointer
//	format=NAME   camera: FFmpeg pixel format or codec such as mjpeg or yuyv422
//	rate=N        microphone: sample rate, 8000..384000 Hz
//	channels=N    microphone: 1..32
//
// Defaults: screens and cameras run at 30 fps and screens draw the cursor; the
// synthetic screen is 1920x1080, the synthetic camera 1280x720 and the synthetic
// microphone 48000 Hz mono; other sizes, formats, rates and channel counts are left
// to the device. The synthetic source takes no at, cursor or format, and avfoundation
// cannot offset a screen. ParseSpec reads nothing from the environment: apply
// Spec.WithDisplay to honour $DISPLAY.
//
// Every error wraps ErrBadSpec and names the spec and its fault.
func ParseSpec(kind Kind, text string) (Spec, error) {
	fail := func(format string, args ...any) (Spec, error) {
		return Spec{}, &specError{kind: kind, text: text, reason: fmt.Sprintf(format, args...)}
	}
	if !kind.valid() {
		return fail("unknown kind %q; want screen, camera or microphone", string(kind))
	}
	if len(text) > maxSpecLen {
		return fail("longer than %d bytes", maxSpecLen)
	}
	if !utf8.ValidString(text) {
		return fail("not valid UTF-8")
	}

	type option struct{ key, value string }
	var (
		deviceItems []string
		options     []option
	)
	if strings.TrimSpace(text) != "" {
		for item := range strings.SplitSeq(text, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				return fail("empty item between commas")
			}
			key, value, isOption := splitOption(item)
			if !isOption {
				if len(options) > 0 {
					return fail("device part %q must come before the options", item)
				}
				deviceItems = append(deviceItems, item)
				continue
			}
			if !isOptionKey(key) {
				return fail("unknown option %q; a %s takes %s", key, kind, strings.Join(optionKeys(kind), ", "))
			}
			if slices.ContainsFunc(options, func(o option) bool { return o.key == key }) {
				return fail("option %s is given twice", key)
			}
			options = append(options, option{key, value})
		}
	}

	backend, device, _ := resolveDevice(kind, strings.Join(deviceItems, ","))
	if reason := checkDevice(kind, backend, device); reason != "" {
		return fail("%s", reason)
	}
	s := Spec{Kind: kind, Backend: backend, Device: device}
	if kind != KindMicrophone {
		s.FPS = defaultFPS
	}
	s.Cursor = kind == KindScreen

	hasSize := false
	for _, o := range options {
		if !slices.Contains(optionKeys(kind), o.key) {
			return fail("option %s does not apply to a %s; a %s takes %s",
				o.key, kind, kind, strings.Join(optionKeys(kind), ", "))
		}
		if s.Synthetic() && (o.key == "at" || o.key == "cursor" || o.key == "format") {
			return fail("option %s does not apply to the synthetic %s", o.key, kind)
		}
		var reason string
		switch o.key {
		case "size":
			s.Width, s.Height, reason = parseSize(o.value)
			hasSize = true
		case "at":
			if backend == backendAVFoundation {
				return fail("avfoundation cannot capture part of a screen; remove at")
			}
			s.X, s.Y, reason = parseOffset(o.value)
		case "fps":
			var ok bool
			if s.FPS, ok = parseNumber(o.value, 1, maxFPS); !ok {
				reason = fmt.Sprintf("fps must be a whole number from 1 to %d", maxFPS)
			}
		case "cursor":
			switch o.value {
			case "true":
				s.Cursor = true
			case "false":
				s.Cursor = false
			default:
				reason = "cursor must be true or false"
			}
		case "format":
			if !isFormatName(o.value) {
				reason = "format must be a pixel format name such as mjpeg or yuyv422"
			}
			s.PixelFormat = o.value
		case "rate":
			var ok bool
			if s.SampleRate, ok = parseNumber(o.value, minRate, maxRate); !ok {
				reason = fmt.Sprintf("rate must be a sample rate from %d to %d Hz", minRate, maxRate)
			}
		case "channels":
			var ok bool
			if s.Channels, ok = parseNumber(o.value, 1, maxChannels); !ok {
				reason = fmt.Sprintf("channels must be a whole number from 1 to %d", maxChannels)
			}
		}
		if reason != "" {
			return fail("%s", reason)
		}
	}
	if (s.X != 0 || s.Y != 0) && !hasSize {
		return fail("at needs size too, so that the region fits on the screen")
	}
	if s.Synthetic() {
		s = s.withSyntheticSize()
	}
	return s, nil
}

// withSyntheticSize fills what the synthetic source needs and the user left out.
func (s Spec) withSyntheticSize() Spec {
	switch s.Kind {
	case KindScreen:
		if s.Width == 0 {
			s.Width, s.Height = syntheticScreenWidth, syntheticScreenHeight
		}
	case KindCamera:
		if s.Width == 0 {
			s.Width, s.Height = syntheticCameraWidth, syntheticCameraHeight
		}
	case KindMicrophone:
		if s.SampleRate == 0 {
			s.SampleRate = syntheticRate
		}
		if s.Channels == 0 {
			s.Channels = syntheticChannels
		}
	}
	return s
}

// splitOption splits "key=value" when key is a lower-case word.
func splitOption(item string) (key, value string, ok bool) {
	key, value, found := strings.Cut(item, "=")
	key = strings.TrimSpace(key)
	if !found || key == "" {
		return "", "", false
	}
	for _, r := range key {
		if r < 'a' || r > 'z' {
			return "", "", false
		}
	}
	return key, strings.TrimSpace(value), true
}

// resolveDevice splits a device part into backend and device. byForm reports that the
// backend follows from the text itself, so the result is the same on every OS.
func resolveDevice(kind Kind, text string) (backend, device string, byForm bool) {
	if text == syntheticDevice {
		return backendLavfi, syntheticDevice, true
	}
	if prefix, rest, ok := strings.Cut(text, ":"); ok && slices.Contains(prefixBackends(kind), prefix) {
		return prefix, rest, true
	}
	switch {
	case text == "":
		return DefaultBackend(kind), "", false
	case kind == KindScreen && text == "desktop":
		return backendGDIGrab, text, true
	case kind == KindScreen && isXDisplay(text):
		return backendX11Grab, text, true
	case kind == KindCamera && strings.HasPrefix(text, "/"):
		return backendV4L2, text, true
	}
	return DefaultBackend(kind), text, false
}

// checkDevice returns why device cannot be opened with backend, or "".
func checkDevice(kind Kind, backend, device string) string {
	if backend == "" {
		return fmt.Sprintf("no %s backend is known on this system", kind)
	}
	if strings.ContainsFunc(device, unicode.IsControl) {
		return "the device name contains a control character"
	}
	if len(device) > maxDeviceLen {
		return fmt.Sprintf("the device name is longer than %d bytes", maxDeviceLen)
	}
	if device == "" {
		if backendDefaultDevice(kind, backend) == "" {
			return fmt.Sprintf("%s has no default %s; name one (list devices to see them)", backend, kind)
		}
		return ""
	}
	switch backend {
	case backendX11Grab:
		if !isXDisplay(device) {
			return fmt.Sprintf("X11 display %q must look like :0 or :99.0", device)
		}
	case backendGDIGrab:
		if device != "desktop" {
			return fmt.Sprintf("gdigrab captures only \"desktop\", not %q", device)
		}
	case backendV4L2:
		if !strings.HasPrefix(device, "/") {
			return fmt.Sprintf("V4L2 device %q must be a path such as /dev/video0", device)
		}
	case backendDShow, backendAVFoundation:
		// Both inputs split their URL at colons.
		if strings.Contains(device, ":") {
			return fmt.Sprintf("%s device name %q must not contain ':'", backend, device)
		}
	}
	return ""
}

// isXDisplay reports whether s looks like an X11 display name: [HOST]:DISPLAY[.SCREEN].
func isXDisplay(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return false
	}
	for _, r := range s[:i] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	display, screen, hasScreen := strings.Cut(s[i+1:], ".")
	if _, ok := parseNumber(display, 0, 99999); !ok {
		return false
	}
	if hasScreen {
		if _, ok := parseNumber(screen, 0, 999); !ok {
			return false
		}
	}
	return true
}

// parseNumber parses a decimal number of plain digits within [lo, hi].
func parseNumber(s string, lo, hi int) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func parseSize(v string) (w, h int, reason string) {
	ws, hs, ok := strings.Cut(v, "x")
	if !ok {
		return 0, 0, "size must be WIDTHxHEIGHT such as 1280x720"
	}
	w, okW := parseNumber(ws, 0, 1<<20)
	h, okH := parseNumber(hs, 0, 1<<20)
	switch {
	case !okW || !okH:
		return 0, 0, "size must be WIDTHxHEIGHT such as 1280x720"
	case w < minWidth || w > maxWidth || h < minHeight || h > maxHeight:
		return 0, 0, fmt.Sprintf("size %s: width must be %d to %d and height %d to %d",
			v, minWidth, maxWidth, minHeight, maxHeight)
	case w%2 != 0 || h%2 != 0:
		return 0, 0, fmt.Sprintf("size %s: width and height must be even", v)
	}
	return w, h, ""
}

func parseOffset(v string) (x, y int, reason string) {
	xs, ys, ok := strings.Cut(v, "+")
	x, okX := parseNumber(xs, 0, 1<<20)
	y, okY := parseNumber(ys, 0, 1<<20)
	switch {
	case !ok || !okX || !okY:
		return 0, 0, "at must be X+Y such as 0+0 or 1920+0"
	case x > maxWidth || y > maxHeight:
		return 0, 0, fmt.Sprintf("at %s: x must be 0 to %d and y 0 to %d", v, maxWidth, maxHeight)
	}
	return x, y, ""
}

func isFormatName(s string) bool {
	if s == "" || len(s) > maxFormatLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// WithDisplay returns s with its X11 display set to display when s is an x11grab screen
// spec that named none; pass os.Getenv("DISPLAY"). An empty or malformed display
// leaves s as it is, so the default ":0.0" applies.
func (s Spec) WithDisplay(display string) Spec {
	if s.Kind == KindScreen && s.Backend == backendX11Grab && s.Device == "" && isXDisplay(display) {
		s.Device = display
	}
	return s
}

// URL is the string FFmpeg's avformat_open_input gets for this spec: ":99.0+10,20" for
// an x11grab region, "/dev/video0", "default", "video=Integrated Camera" for dshow,
// "Capture screen 0:none" for avfoundation. An empty Device becomes the backend's
// default device. Synthetic specs give "": their lavfi graph is built elsewhere.
func (s Spec) URL() string {
	if s.Synthetic() {
		return ""
	}
	device := s.Device
	if device == "" {
		device = backendDefaultDevice(s.Kind, s.Backend)
	}
	switch s.Backend {
	case backendX11Grab:
		if s.X != 0 || s.Y != 0 {
			return fmt.Sprintf("%s+%d,%d", device, s.X, s.Y)
		}
	case backendDShow:
		return dshowURL(s.Kind, device)
	case backendAVFoundation:
		return avfoundationURL(s.Kind, device)
	}
	return device
}

// Options are the avdevice options for this spec: only what the user set, the
// defaults ParseSpec filled in (frame rate) and what the backend needs (whether to
// draw the cursor). Synthetic specs give nil. avfoundation takes no audio options, so
// SampleRate and Channels of an avfoundation microphone do not appear.
func (s Spec) Options() map[string]string {
	if s.Synthetic() {
		return nil
	}
	o := map[string]string{}
	switch s.Backend {
	case backendX11Grab:
		s.videoOptions(o)
		o["draw_mouse"] = s.cursorFlag()
	case backendV4L2:
		s.videoOptions(o)
		if s.PixelFormat != "" {
			o["input_format"] = s.PixelFormat
		}
	case backendPulse, backendALSA:
		s.audioOptions(o)
	case backendGDIGrab:
		s.gdigrabOptions(o)
	case backendDShow:
		s.dshowOptions(o)
	case backendAVFoundation:
		s.avfoundationOptions(o)
	}
	return o
}

// videoOptions adds the picture size and frame rate the spec sets, as the avdevice
// inputs except lavfi name them.
func (s Spec) videoOptions(o map[string]string) {
	if s.Width > 0 && s.Height > 0 {
		o["video_size"] = fmt.Sprintf("%dx%d", s.Width, s.Height)
	}
	if s.FPS > 0 {
		o["framerate"] = strconv.Itoa(s.FPS)
	}
}

// audioOptions adds the sample rate and channel count the spec sets.
func (s Spec) audioOptions(o map[string]string) {
	if s.SampleRate > 0 {
		o["sample_rate"] = strconv.Itoa(s.SampleRate)
	}
	if s.Channels > 0 {
		o["channels"] = strconv.Itoa(s.Channels)
	}
}

// cursorFlag is Cursor as the screen inputs take it.
func (s Spec) cursorFlag() string {
	if s.Cursor {
		return "1"
	}
	return "0"
}

// String gives the canonical spec text, so that ParseSpec(s.Kind, s.String()) returns
// s for every s that ParseSpec returned. Options equal to their defaults are left out,
// and the backend prefix only when the device's form implies the backend.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(s.deviceText())
	add := func(key, value string) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(value)
	}
	// synth holds the sizes and rates ParseSpec gives a synthetic source by default.
	synth := Spec{Kind: s.Kind}.withSyntheticSize()
	switch s.Kind {
	case KindScreen, KindCamera:
		if (s.Width != 0 || s.Height != 0) && !(s.Synthetic() && s.Width == synth.Width && s.Height == synth.Height) {
			add("size", fmt.Sprintf("%dx%d", s.Width, s.Height))
		}
		if s.Kind == KindScreen && (s.X != 0 || s.Y != 0) {
			add("at", fmt.Sprintf("%d+%d", s.X, s.Y))
		}
		if s.FPS != 0 && s.FPS != defaultFPS {
			add("fps", strconv.Itoa(s.FPS))
		}
		if s.Kind == KindScreen && !s.Cursor && !s.Synthetic() {
			add("cursor", "false")
		}
		if s.Kind == KindCamera && s.PixelFormat != "" {
			add("format", s.PixelFormat)
		}
	case KindMicrophone:
		if s.SampleRate != 0 && !(s.Synthetic() && s.SampleRate == synth.SampleRate) {
			add("rate", strconv.Itoa(s.SampleRate))
		}
		if s.Channels != 0 && !(s.Synthetic() && s.Channels == synth.Channels) {
			add("channels", strconv.Itoa(s.Channels))
		}
	}
	return b.String()
}

// deviceText is the device part of String.
func (s Spec) deviceText() string {
	if s.Synthetic() {
		return syntheticDevice
	}
	if s.Device == "" && s.Backend == DefaultBackend(s.Kind) {
		return ""
	}
	if backend, device, byForm := resolveDevice(s.Kind, s.Device); byForm && backend == s.Backend && device == s.Device {
		return s.Device
	}
	return s.Backend + ":" + s.Device
}
