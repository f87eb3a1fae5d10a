//go:build unix && !linux

package s3test

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}
