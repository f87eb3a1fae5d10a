//go:build cgo

package capture

import (
	"context"
	"fmt"
)

// ScreenSize opens an X11 display through x11grab and reports its size. It names a
// display that cannot be reached with ErrNotFound.
func ScreenSize(ctx context.Context, display string) (width, height int, err error) {
	spec := Spec{Kind: KindScreen, Backend: "x11grab", Device: display, FPS: 1}
	src, err := Open(ctx, []Spec{spec}, nil)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	for _, st := range src.Streams() {
		if st.Video {
			return st.Width, st.Height, nil
		}
	}
	return 0, 0, fmt.Errorf("screen %q: no picture: %w", display, ErrUnavailable)
}
