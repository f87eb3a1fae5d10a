package s3test

import "syscall"

// setParentDeathSignal kills the server if the test binary dies without cleaning up, as
// on a test timeout.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
