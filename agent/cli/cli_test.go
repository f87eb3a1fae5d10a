package cli

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/agent/recording"
	"github.com/aulacapture/aula/capture"
)

func TestStatusLine(t *testing.T) {
	st := recording.Status{
		Elapsed: 3723 * time.Second,
		Bytes:   5 << 20,
		Tracks: []recording.TrackStatus{
			{ID: "screen", Kind: "screen", FPS: 29.96, Dropped: 2},
			{ID: "audio", Kind: "audio", PeakDBFS: -12.34},
		},
	}
	want := "REC 01:02:03 | screen 30.0 fps 2 dropped | audio -12.3 dBFS | 5.0 MiB"
	if got := statusLine(st); got != want {
		t.Errorf("statusLine = %q, want %q", got, want)
	}
	st.Paused = true
	st.Tracks[1].PeakDBFS = math.Inf(-1)
	if got := statusLine(st); !strings.HasPrefix(got, "PAUSED") || !strings.Contains(got, "-inf dBFS") {
		t.Errorf("paused, silent: %q", got)
	}
}

func TestSpecFlag(t *testing.T) {
	f := specFlag{kind: capture.KindCamera}
	if err := f.Set("true"); err != nil { // --camera alone
		t.Fatal(err)
	}
	if err := f.Set("/dev/video1"); err == nil {
		t.Error("a second --camera was accepted")
	}
	s := specFlag{kind: capture.KindScreen, multi: true}
	for _, v := range []string{":1", "synthetic"} {
		if err := s.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.specs) != 2 {
		t.Errorf("screens %v", s.specs)
	}
	if err := (&specFlag{kind: capture.KindCamera}).Set("size=12x"); !errors.Is(err, capture.ErrBadSpec) {
		t.Errorf("bad spec accepted: %v", err)
	}
}

func TestRunUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"record", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"record"}, 2, "Nothing to record"},
		{[]string{"record", "--screen=:0,size=12x"}, 2, "size must be WIDTHxHEIGHT"},
		{[]string{"record", "--help"}, 0, "--duration"},
		{[]string{"version"}, 0, "aula-agent"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := Run(context.Background(), Env{Args: c.args, Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
			if ExitCode(err) != c.code || !strings.Contains(out.String()+Message(err), c.want) {
				t.Errorf("exit %d (%v), output %q; want exit %d and %q", ExitCode(err), err, out.String(), c.code, c.want)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	if m := Message(errors.New("disk full")); m != "aula-agent: Disk full" {
		t.Errorf("Message = %q", m)
	}
	if Message(context.Canceled) != "" || Message(ErrUsage) != "" || Message(nil) != "" {
		t.Error("nothing more to say for cancel, usage and nil")
	}
}
