//go:build !linux

package capture

import (
	"context"
	"fmt"
	"runtime"
)

// discover is not written for this system: listing dshow and avfoundation devices needs
// FFmpeg, and the BSDs have no /proc/asound. Specs still name devices by hand.
func (d *Discoverer) discover(context.Context) ([]Device, error) {
	return nil, fmt.Errorf("on %s: %w", runtime.GOOS, ErrUnsupportedOS)
}
