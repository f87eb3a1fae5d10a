//go:build cgo

package capture

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

func TestOpenSynthetic(t *testing.T) {
	cam, _ := ParseSpec(KindCamera, "synthetic,size=320x240,fps=25")
	mic, _ := ParseSpec(KindMicrophone, "synthetic,rate=44100,channels=2")
	src, err := Open(context.Background(), []Spec{cam, mic}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st := src.Streams()
	if len(st) != 2 || !st[0].Video || st[0].Width != 320 || st[0].Height != 240 || st[0].FPS != 25 ||
		st[1].Video || st[1].SampleRate != 44100 || st[1].Channels != 2 {
		t.Fatalf("streams %+v", st)
	}
	last := map[int]time.Duration{0: -1, 1: -1}
	start := time.Now()
	for n := 0; n < 60; n++ {
		f, err := src.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if f.PTS <= last[f.Stream] {
			t.Errorf("stream %d: time stamp %s after %s", f.Stream, f.PTS, last[f.Stream])
		}
		last[f.Stream] = f.PTS
	}
	// The synthetic source runs in real time, as a device would.
	if el, pts := time.Since(start), max(last[0], last[1]); el < pts/2 {
		t.Errorf("read %s of media in %s: not paced in real time", pts, el)
	}
}

// TestReadStopsOnCancel: a Read blocked in the device returns once its context ends.
func TestReadStopsOnCancel(t *testing.T) {
	cam, _ := ParseSpec(KindCamera, "synthetic,size=64x64,fps=1")
	src, err := Open(context.Background(), []Spec{cam}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	var rerr error
	for rerr == nil && time.Since(start) < 5*time.Second {
		_, rerr = src.Read(ctx)
	}
	if !errors.Is(rerr, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("Read returned %v after %s, want the deadline within a frame", rerr, time.Since(start))
	}
}

func TestOpenErrors(t *testing.T) {
	cam, _ := ParseSpec(KindCamera, "/dev/video7")
	screen, _ := ParseSpec(KindScreen, ":42")
	cases := []struct {
		name string
		spec Spec
		err  error
		is   error
		want string
	}{
		{"missing", cam, astiav.Error(-int(syscall.ENOENT)), ErrNotFound, `camera "/dev/video7" not found: check that it is connected`},
		{"busy", cam, astiav.Error(-int(syscall.EBUSY)), ErrBusy, "is busy: another program is using it"},
		{"permission", cam, astiav.Error(-int(syscall.EACCES)), ErrPermission, "video or audio"},
		{"mode", cam, astiav.Error(-int(syscall.EINVAL)), ErrUnsupportedMode, "sizes and rates it offers"},
		{"no display", screen, astiav.Error(-int(syscall.EIO)), ErrNotFound, "cannot connect to the X display"},
		{"other", cam, astiav.Error(-int(syscall.EPIPE)), ErrUnavailable, "could not be opened"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := openError(c.spec, c.err)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("openError = %q, want %v and %q", err, c.is, c.want)
			}
		})
	}
	// And for real: a camera that is not there, a display that does not run.
	for _, s := range []Spec{cam, screen} {
		if _, err := Open(context.Background(), []Spec{s}, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%s) = %v, want ErrNotFound", s, err)
		}
	}
}

func TestSyntheticGraphRejectsDevices(t *testing.T) {
	cam, _ := ParseSpec(KindCamera, "/dev/video0")
	if _, err := SyntheticGraph([]Spec{cam}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("SyntheticGraph(real camera) = %v, want ErrBadSpec", err)
	}
}
