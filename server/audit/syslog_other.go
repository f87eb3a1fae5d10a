//go:build windows || plan9

package audit

import "errors"

// ErrNoSyslog means this system has no syslog to send audit events to.
var ErrNoSyslog = errors.New("audit syslog is not available on this system: use audit_file")

func openSyslog(string) (output, error) { return nil, ErrNoSyslog }
