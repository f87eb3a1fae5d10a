//go:build windows

package capture

// DefaultBackend returns the FFmpeg input format a spec of the given kind uses when its
// device part names no backend.
func DefaultBackend(kind Kind) string {
	switch kind {
	case KindScreen:
		return backendGDIGrab
	case KindCamera:
		return backendDShow
	case KindMicrophone:
		return backendDShow
	}
	return ""
}
