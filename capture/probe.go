//go:build cgo

package capture

import (
	"context"
	"fmt"

	"github.com/asticode/go-astiav"
)

// ScreenSize opens an X11 display such as ":0.0" through x11grab and reports its size.
// A display that cannot be reached gives ErrNotFound.
func ScreenSize(ctx context.Context, display string) (width, height int, err error) {
	spec := Spec{Kind: KindScreen, Backend: "x11grab", Device: display}
	astiav.RegisterAllDevices()
	ifmt := astiav.FindInputFormat("x11grab")
	if ifmt == nil {
		return 0, 0, fmt.Errorf("screen %q: FFmpeg here has no x11grab input: %w", display, ErrUnavailable)
	}
	fc := astiav.AllocFormatContext()
	defer fc.Free()
	intr := fc.SetInterruptCallback()
	stop := context.AfterFunc(ctx, intr.Interrupt)
	defer stop()
	// x11grab learns the size when it opens; reading frames is not needed.
	if err := fc.OpenInput(display, ifmt, nil); err != nil {
		return 0, 0, openError(spec, err)
	}
	defer fc.CloseInput()
	for _, st := range fc.Streams() {
		if cp := st.CodecParameters(); cp.MediaType() == astiav.MediaTypeVideo {
			return cp.Width(), cp.Height(), nil
		}
	}
	return 0, 0, fmt.Errorf("screen %q: no picture: %w", display, ErrUnavailable)
}
