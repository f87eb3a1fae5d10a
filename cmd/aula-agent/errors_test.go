package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aulacapture/aula/internal/mediatest"
)

// mountTmpfs mounts a tmpfs of size bytes (mount options opts) for the test. Mounting
// needs root, which CI and `make test` on a fresh machine have.
func mountTmpfs(t *testing.T, size string, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs that can really fill up; run make test as root (CI does)")
	}
	dir := t.TempDir()
	o := "size=" + size
	if opts != "" {
		o += "," + opts
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", o, "aula-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

func TestRecordErrors(t *testing.T) {
	display := mediatest.StartXvfb(t, 640, 480)
	readOnly := mountTmpfs(t, "1m", "ro")
	existing := t.TempDir()
	if code, out := runAgent(t, "record", "--synthetic", "--duration", "1s", "--out", existing); code != 0 {
		t.Fatalf("first recording: %s", out)
	}
	cases := []struct {
		name string
		args []string
		want []string // every one must be in the message
	}{
		{"missing camera", []string{"--camera=/dev/video97"}, []string{`camera "/dev/video97" not found`, "aula-agent devices"}},
		{"missing display", []string{"--screen=:97"}, []string{`screen ":97"`, "cannot connect to the X display"}},
		{"unsupported size", []string{"--screen=" + display + ",size=4000x4000"}, []string{"640x480", "4000x4000", "does not fit"}},
		{"bad spec", []string{"--camera=/dev/video0,size=12x"}, []string{"size"}},
		{"unwritable directory", []string{"--synthetic", "--out", filepath.Join(readOnly, "rec")}, []string{"cannot write to", readOnly, "read-only file system", "choose another --out"}},
		{"existing recording", []string{"--synthetic", "--out", existing}, []string{"already holds a recording", "nothing is overwritten"}},
		{"nothing to record", []string{"--duration", "1s"}, []string{"Nothing to record"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"record", "--duration", "3s"}, c.args...)
			if !contains(c.args, "--out") {
				args = append(args, "--out", filepath.Join(t.TempDir(), "rec"))
			}
			code, out := runAgent(t, args...)
			if code == 0 {
				t.Fatalf("exit 0, want an error; output: %s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(strings.ToLower(out), strings.ToLower(w)) {
					t.Errorf("message lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Errorf("crashed:\n%s", out)
			}
		})
	}
}

// TestRecordLowDisk: too little space refuses to start, with the reason.
func TestRecordLowDisk(t *testing.T) {
	dir := mountTmpfs(t, "4m", "")
	code, out := runAgent(t, "record", "--synthetic", "--duration", "3s", "--out", filepath.Join(dir, "rec"))
	if code == 0 || !strings.Contains(out, "free") || !strings.Contains(out, "choose another --out") {
		t.Fatalf("exit %d, want a refusal naming the free space:\n%s", code, out)
	}
}

// TestRecordDiskFull: the disk fills mid-recording; the agent stops with one clear
// sentence and every segment written before plays.
func TestRecordDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "3m", "")
	out := filepath.Join(dir, "rec")
	code, text := runAgent(t, "record", "--synthetic", "--duration", "60s", "--min-free", "0", "--out", out)
	if code == 0 {
		t.Fatalf("exit 0 on a 3 MiB disk for 60 s of video:\n%s", text)
	}
	if !strings.Contains(text, "filled up") || !strings.Contains(text, "stay valid") {
		t.Errorf("message does not explain the full disk:\n%s", text)
	}
	m := checkPlayable(t, out)
	n := 0
	for _, tr := range m.Tracks {
		n += len(tr.Segments)
	}
	if n == 0 {
		t.Errorf("no segment survived the full disk")
	}
	t.Logf("%d segments kept; message: %s", n, lastLine(text))
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
