//go:build !linux && !windows && !darwin

package capture

// DefaultBackend returns the FFmpeg input format a spec of the given kind uses when its
// device part names no backend; the BSDs have the same inputs as Linux.
func DefaultBackend(kind Kind) string {
	switch kind {
	case KindScreen:
		return backendX11Grab
	case KindCamera:
		return backendV4L2
	case KindMicrophone:
		return backendPulse
	}
	return ""
}
