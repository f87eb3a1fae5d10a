package capture

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (d *Discoverer) discover(ctx context.Context) ([]Device, error) {
	var all []Device
	steps := []func(context.Context) ([]Device, error){
		d.x11Screens,
		d.v4l2Cameras,
		d.pulseMicrophones,
		func(context.Context) ([]Device, error) { return d.alsaMicrophones() },
	}
	for _, step := range steps {
		devices, err := step(ctx)
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		all = append(all, devices...)
	}
	return all, nil
}

// x11Screens lists the X11 displays that have a socket in X11SocketDir (X0 is ":0").
func (d *Discoverer) x11Screens(ctx context.Context) ([]Device, error) {
	dir := orDefault(d.X11SocketDir, "/tmp/.X11-unix")
	numbers, err := numberedEntries(dir, "X")
	if err != nil {
		return nil, fmt.Errorf("list X11 displays: %w", err)
	}
	var devices []Device
	for _, n := range numbers {
		dev := Device{
			Kind:    KindScreen,
			Backend: backendX11Grab,
			ID:      fmt.Sprintf(":%d.0", n),
			Name:    fmt.Sprintf("X11 display :%d", n),
		}
		if d.ScreenSize != nil {
			if w, h, err := d.ScreenSize(ctx, dev.ID); err == nil && w > 0 && h > 0 {
				dev.Modes = []Mode{{Width: w, Height: h}}
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		devices = append(devices, dev)
	}
	return devices, nil
}

// v4l2Cameras lists the V4L2 video capture devices among DevDir's videoN nodes.
func (d *Discoverer) v4l2Cameras(ctx context.Context) ([]Device, error) {
	dir := orDefault(d.DevDir, "/dev")
	numbers, err := numberedEntries(dir, "video")
	if err != nil {
		return nil, fmt.Errorf("list V4L2 devices: %w", err)
	}
	ioctl := d.V4L2Ioctl
	if ioctl == nil {
		ioctl = sysIoctl
	}
	var devices []Device
	for _, n := range numbers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if dev, ok := queryV4L2(filepath.Join(dir, fmt.Sprintf("video%d", n)), ioctl); ok {
			devices = append(devices, dev)
		}
	}
	return devices, nil
}

// numberedEntries returns N of the entries named prefixN in dir, ascending; a missing
// dir has none. Directories do not count.
func numberedEntries(dir, prefix string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var numbers []int
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || e.IsDir() {
			continue
		}
		if n, ok := parseNumber(rest, 0, 1<<16); ok && strconv.Itoa(n) == rest {
			numbers = append(numbers, n)
		}
	}
	slices.Sort(numbers)
	return numbers, nil
}

// pactlTimeout bounds pactl, which can hang on a wedged sound server.
const pactlTimeout = 5 * time.Second

// pulseMicrophones lists the PulseAudio (or PipeWire) sources that are not monitors.
// A missing pactl or sound server gives none.
func (d *Discoverer) pulseMicrophones(ctx context.Context) ([]Device, error) {
	run := d.RunCommand
	if run == nil {
		run = runCommand
	}
	runCtx, cancel := context.WithTimeout(ctx, pactlTimeout)
	defer cancel()
	out, err := run(runCtx, "pactl", "list", "short", "sources")
	if err != nil {
		return nil, ctx.Err()
	}
	var devices []Device
	for _, src := range parsePactlSources(out) {
		if src.Monitor {
			continue
		}
		dev := Device{Kind: KindMicrophone, Backend: backendPulse, ID: backendPulse + ":" + src.Name, Name: src.Name}
		if src.SampleRate > 0 || src.Channels > 0 {
			dev.Modes = []Mode{{SampleRate: src.SampleRate, Channels: src.Channels}}
		}
		devices = append(devices, dev)
	}
	return devices, nil
}

// alsaMicrophones lists the ALSA PCMs that capture, named by card and PCM. A machine
// without /proc/asound gives none.
func (d *Discoverer) alsaMicrophones() ([]Device, error) {
	dir := orDefault(d.ProcAsound, "/proc/asound")
	pcmText, err := os.ReadFile(filepath.Join(dir, "pcm"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list ALSA devices: %w", err)
	}
	// Without card names the PCM names still tell devices apart.
	cardText, _ := os.ReadFile(filepath.Join(dir, "cards"))
	cards := parseAsoundCards(cardText)
	var devices []Device
	for _, pcm := range parseAsoundPCM(pcmText) {
		if pcm.Capture == 0 {
			continue
		}
		name := pcm.Name
		if name == "" {
			name = pcm.ID
		}
		if card := cards[pcm.Card]; card != "" {
			name = card + ": " + name
		}
		if name == "" {
			name = fmt.Sprintf("ALSA card %d device %d", pcm.Card, pcm.Device)
		}
		devices = append(devices, Device{
			Kind:    KindMicrophone,
			Backend: backendALSA,
			ID:      fmt.Sprintf("%s:hw:%d,%d", backendALSA, pcm.Card, pcm.Device),
			Name:    name,
		})
	}
	return devices, nil
}

// runCommand runs a program with messages in English, so parsers see one language.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.Output()
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
