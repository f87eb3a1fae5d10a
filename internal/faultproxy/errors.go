package faultproxy

import "errors"

// ErrInvalidFaults is wrapped by the errors Faults.Validate returns, with the field at fault.
var ErrInvalidFaults = errors.New("invalid faults")
