package capture

import (
	"errors"
	"fmt"
)

// Errors of specs and discovery.
var (
	// ErrBadSpec is wrapped by every error ParseSpec returns.
	ErrBadSpec = errors.New("bad capture spec")
	// ErrUnsupportedOS reports that device discovery is not implemented for this
	// operating system; specs naming a device by hand still work.
	ErrUnsupportedOS = errors.New("not supported on this operating system")
)

// Errors of opening and reading sources; the messages built on them name the device and
// say what to do.
var (
	// ErrNotFound reports a device that is not there.
	ErrNotFound = errors.New("not found")
	// ErrBusy reports a device another program holds.
	ErrBusy = errors.New("busy")
	// ErrPermission reports a device this user may not open.
	ErrPermission = errors.New("permission denied")
	// ErrUnsupportedMode reports a size, rate or format the device cannot deliver.
	ErrUnsupportedMode = errors.New("not supported by the device")
	// ErrUnavailable reports a device that could not be opened for another reason.
	ErrUnavailable = errors.New("could not be opened")
	// ErrDeviceLost reports a device that failed while recording (unplugged, display closed).
	ErrDeviceLost = errors.New("stopped delivering")
	// ErrEnded reports a source that has no more frames.
	ErrEnded = errors.New("source ended")
)

// specError is a spec fault told as one sentence naming the spec; it wraps ErrBadSpec
// without repeating its text.
type specError struct {
	kind   Kind
	text   string
	reason string
}

func (e *specError) Error() string {
	what := "capture"
	if e.kind.valid() {
		what = string(e.kind)
	}
	return fmt.Sprintf("%s spec %q: %s", what, e.text, e.reason)
}

func (e *specError) Unwrap() error { return ErrBadSpec }
