package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aulacapture/aula/capture"
)

func runDevices(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "devices", "devices [--json]")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	d := capture.Discoverer{ScreenSize: capture.ScreenSize}
	devices, err := d.Discover(ctx)
	if err != nil {
		return err
	}
	// A display whose size could not be read is not running (a stale socket): it
	// cannot be recorded, so it is not offered.
	devices = slices.DeleteFunc(devices, func(dev capture.Device) bool {
		return dev.Backend == "x11grab" && len(dev.Modes) == 0
	})
	// The synthetic sources are always there, for demos and tests.
	devices = append(devices,
		capture.Device{Kind: capture.KindScreen, Backend: "lavfi", ID: "synthetic", Name: "Synthetic screen (test picture with frame counter)",
			Modes: []capture.Mode{{Width: 1920, Height: 1080, FPS: []float64{30}}}},
		capture.Device{Kind: capture.KindCamera, Backend: "lavfi", ID: "synthetic", Name: "Synthetic camera (test picture, flash each second)",
			Modes: []capture.Mode{{Width: 1280, Height: 720, FPS: []float64{30}}}},
		capture.Device{Kind: capture.KindMicrophone, Backend: "lavfi", ID: "synthetic", Name: "Synthetic microphone (tone, click each second)",
			Modes: []capture.Mode{{SampleRate: 48000, Channels: 1}}},
	)
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(devices)
	}
	for _, dev := range devices {
		fmt.Fprintf(env.Stdout, "%-10s %-36s %s\n", dev.Kind, specFor(dev), dev.Name)
		for _, m := range dev.Modes {
			fmt.Fprintf(env.Stdout, "%-10s   %s\n", "", modeText(m))
		}
	}
	return nil
}

// specFor is what to pass to record's flag to pick dev.
func specFor(dev capture.Device) string {
	flag := "--" + string(dev.Kind)
	if dev.Kind == capture.KindMicrophone {
		flag = "--mic"
	}
	return flag + "=" + dev.ID
}

func modeText(m capture.Mode) string {
	var parts []string
	if m.Width > 0 {
		parts = append(parts, fmt.Sprintf("%dx%d", m.Width, m.Height))
	}
	if m.PixelFormat != "" {
		parts = append(parts, m.PixelFormat)
	}
	if len(m.FPS) > 0 {
		rates := make([]string, len(m.FPS))
		for i, f := range m.FPS {
			rates[i] = strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", f), "0"), ".")
		}
		parts = append(parts, strings.Join(rates, "/")+" fps")
	}
	if m.SampleRate > 0 {
		parts = append(parts, fmt.Sprintf("%d Hz", m.SampleRate))
	}
	if m.Channels > 0 {
		parts = append(parts, fmt.Sprintf("%d ch", m.Channels))
	}
	return strings.Join(parts, " ")
}
