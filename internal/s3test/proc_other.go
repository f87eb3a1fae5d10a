//go:build !unix

package s3test

import (
	"os"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) {}

// signalGroup kills the process itself: there are no process groups to signal here.
func signalGroup(p *os.Process, _ bool) { _ = p.Kill() }

// GroupAlive is always false where process groups do not exist.
func GroupAlive(int) bool { return false }
