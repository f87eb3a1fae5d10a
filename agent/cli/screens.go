package cli

import (
	"context"
	"fmt"

	"github.com/aulacapture/aula/capture"
)

// checkScreens makes sure each X11 screen can be reached and the asked region fits it,
// so a wrong size is one clear sentence before anything starts.
func checkScreens(ctx context.Context, specs []capture.Spec) error {
	for _, s := range specs {
		if s.Backend != "x11grab" {
			continue
		}
		display := s.Device
		if display == "" {
			display = capture.DefaultDevice(capture.KindScreen)
		}
		w, h, err := capture.ScreenSize(ctx, display)
		if err != nil {
			return err
		}
		if s.Width == 0 {
			continue
		}
		if s.X+s.Width > w || s.Y+s.Height > h {
			return fmt.Errorf("screen %q is %dx%d, so a %dx%d region at %d+%d does not fit: choose a size and offset inside the screen: %w",
				display, w, h, s.Width, s.Height, s.X, s.Y, capture.ErrUnsupportedMode)
		}
	}
	return nil
}
