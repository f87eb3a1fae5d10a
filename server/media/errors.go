package media

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid reports bytes that are not acceptable CMAF; the wrapped text gives the
	// reason and, where it helps, the byte offset.
	ErrInvalid = errors.New("invalid media")
	// ErrUnsupportedCodec reports a well-formed init segment of a codec the server does not
	// take (only H.264 avc1/avc3 and AAC-LC mp4a are taken).
	ErrUnsupportedCodec = errors.New("unsupported codec")
	// ErrCodecMismatch reports a declared codec string that differs from the init segment's.
	ErrCodecMismatch = errors.New("codec does not match init segment")
)

// invalid wraps ErrInvalid with a reason.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
