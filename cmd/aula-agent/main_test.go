package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aulacapture/aula/capture"
	"github.com/aulacapture/aula/encoder"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/mediatest"
)

// agentBin is the aula-agent binary the tests run as a person would.
var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aula-agent-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "aula-agent")
	build := exec.Command("go", "build", "-race", "-o", agentBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build aula-agent:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agent starts aula-agent with args; the process is killed when the test ends.
func agent(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(agentBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &out
}

// runAgent runs aula-agent to its end and returns its exit code and output.
func runAgent(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, agentBin, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("aula-agent %v did not finish: %s", args, out)
	}
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return code, string(out)
}

// checkPlayable checks that ffprobe opens every playlist and every segment of a
// recording, that segment files match the manifest's digests, and that each video
// segment starts with a keyframe. It returns the manifest.
func checkPlayable(t *testing.T, dir string) *manifest.Manifest {
	t.Helper()
	m := mediatest.ReadManifest(t, dir)
	mediatest.FFprobe(t, filepath.Join(dir, "index.m3u8"))
	for _, tr := range m.Tracks {
		if len(tr.Segments) == 0 {
			continue
		}
		p := mediatest.FFprobe(t, filepath.Join(dir, tr.ID, "index.m3u8"))
		want := "h264"
		if tr.Kind == manifest.KindAudio {
			want = "aac"
		}
		if len(p.Streams) != 1 || p.Streams[0].CodecName != want {
			t.Errorf("%s playlist: streams %+v, want one %s", tr.ID, p.Streams, want)
		}
		init := filepath.Join(dir, tr.ID, "init.mp4")
		for _, s := range tr.Segments {
			seg := filepath.Join(dir, tr.ID, fmt.Sprintf("%06d.m4s", s.Seq))
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatalf("%s segment %d listed but: %v", tr.ID, s.Seq, err)
			}
			if manifest.Digest(data) != s.Digest {
				t.Errorf("%s segment %d: digest differs from the manifest", tr.ID, s.Seq)
			}
			file := mediatest.SegmentFile(t, init, seg)
			sp := mediatest.FFprobe(t, file)
			if len(sp.Streams) != 1 || sp.Streams[0].CodecName != want {
				t.Errorf("%s segment %d: streams %+v", tr.ID, s.Seq, sp.Streams)
			}
			if tr.Kind != manifest.KindAudio {
				pk := mediatest.Packets(t, file)
				if len(pk) == 0 || !pk[0].Key {
					t.Errorf("%s segment %d does not start with a keyframe", tr.ID, s.Seq)
				}
			}
		}
	}
	return m
}

// TestRecordScreenCameraMic is the main acceptance test: 20 s of a real X11
// screen (Xvfb), the synthetic camera and the synthetic microphone.
func TestRecordScreenCameraMic(t *testing.T) {
	display := mediatest.StartXvfb(t, 1280, 720)
	out := filepath.Join(t.TempDir(), "rec")
	code, text := runAgent(t, "record", "--screen="+display, "--synthetic", "--duration", "20s", "--out", out, "--title", "Lecture 1")
	if code != 0 {
		t.Fatalf("record exited %d: %s", code, text)
	}
	m := checkPlayable(t, out)
	if m.State != manifest.StateCaptureFinished || m.Title != "Lecture 1" {
		t.Errorf("manifest state %q title %q", m.State, m.Title)
	}
	kinds := map[manifest.Kind]manifest.Track{}
	for _, tr := range m.Tracks {
		kinds[tr.Kind] = tr
	}
	if len(kinds) != 3 {
		t.Fatalf("tracks %+v, want screen, camera and audio", m.Tracks)
	}
	if s := kinds[manifest.KindScreen]; s.Width != 1280 || s.Height != 720 {
		t.Errorf("screen track is %dx%d, want the display's 1280x720", s.Width, s.Height)
	}
	// Duration within 3% of 20 s, by the manifest and by ffprobe on each playlist.
	for _, tr := range m.Tracks {
		p := mediatest.FFprobe(t, filepath.Join(out, tr.ID, "index.m3u8"))
		if d := p.Duration(); math.Abs(d-20) > 0.6 {
			t.Errorf("%s plays %.3f s, want 20 s ± 3%%", tr.ID, d)
		}
		for i, s := range tr.Segments {
			last := i == len(tr.Segments)-1
			if (s.Duration < 1.5 || s.Duration > 2.5) && !(last && s.Duration > 0) {
				t.Errorf("%s segment %d lasts %.3f s, want 2 ± 0.5 s", tr.ID, s.Seq, s.Duration)
			}
		}
	}
	if d := m.Duration() - encoder.Lead.Seconds(); math.Abs(d-20) > 0.6 {
		t.Errorf("manifest duration %.3f s, want 20 s ± 3%%", d)
	}

	// The camera's burned-in frame counter reads back in order with no gaps.
	cam := kinds[manifest.KindCamera]
	frames := mediatest.ReadBarcodes(t, filepath.Join(out, "camera", "index.m3u8"), cam.Width, cam.Height,
		capture.BarcodeBits, capture.BarcodeCell(cam.Height))
	if len(frames) < 20*30*97/100 {
		t.Errorf("camera has %d frames, want about %d", len(frames), 20*30)
	}
	for i, f := range frames {
		if f.Counter < 0 {
			t.Fatalf("frame %d at %.3f s: counter unreadable", i, f.PTS)
		}
		if i > 0 && f.Counter != frames[i-1].Counter+1 {
			t.Errorf("frame %d at %.3f s: counter %d follows %d", i, f.PTS, f.Counter, frames[i-1].Counter)
		}
	}

	// A/V sync: each flash lines up with its click within 40 ms, first to last.
	flashes, worst := checkSync(t, frames, filepath.Join(out, "audio", "index.m3u8"))
	if flashes < 18 {
		t.Errorf("found %d flashes in 20 s, want about 20", flashes)
	}
	t.Logf("A/V sync: %d flashes, worst offset %.1f ms", flashes, worst*1000)
}

// checkSync finds, for each flash of the synthetic camera, the nearest click of the
// synthetic microphone and fails the test when they are more than 40 ms apart. It
// returns the number of flashes and the worst offset in seconds.
func checkSync(t *testing.T, frames []mediatest.BarcodeFrame, audioPlaylist string) (int, float64) {
	t.Helper()
	clicks := mediatest.Clicks(t, audioPlaylist, 0.5, 500*time.Millisecond)
	if len(clicks) == 0 {
		t.Fatal("no clicks in the audio")
	}
	n, worst := 0, 0.0
	for _, f := range frames {
		if !f.Flash {
			continue
		}
		n++
		best := math.Inf(1)
		for _, c := range clicks {
			if d := c - f.PTS; math.Abs(d) < math.Abs(best) {
				best = d
			}
		}
		if math.Abs(best) > 0.040 {
			t.Errorf("flash at %.3f s: nearest click %.1f ms away, want within 40 ms", f.PTS, best*1000)
		}
		worst = max(worst, math.Abs(best))
	}
	return n, worst
}

// TestRecordStopsCleanlyOnSIGINT: Ctrl-C ends the recording with a valid, final
// recording up to the last segment.
func TestRecordStopsCleanlyOnSIGINT(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rec")
	cmd, text := agent(t, nil, "record", "--synthetic", "--out", out)
	waitSegments(t, out, "camera", 3, 30*time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("record after SIGINT: %v: %s", err, text)
	}
	m := checkPlayable(t, out)
	if m.State != manifest.StateCaptureFinished {
		t.Errorf("state %q, want capture_finished", m.State)
	}
	media, err := os.ReadFile(filepath.Join(out, "camera", "index.m3u8"))
	if err != nil || !strings.Contains(string(media), "#EXT-X-ENDLIST") {
		t.Errorf("camera playlist is not final after SIGINT: %s", media)
	}
	if d := m.Duration(); d < 6 {
		t.Errorf("recording lasts %.1f s, want at least the 6 s recorded", d)
	}
}

// TestRecordSurvivesSIGKILL: a killed agent loses at most the segment being written;
// every earlier one is listed and plays.
func TestRecordSurvivesSIGKILL(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rec")
	cmd, _ := agent(t, nil, "record", "--synthetic", "--out", out)
	waitSegments(t, out, "camera", 3, 30*time.Second)
	time.Sleep(1300 * time.Millisecond) // kill somewhere inside the next segment
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	m := checkPlayable(t, out)
	if m.State != manifest.StateCapturing {
		t.Errorf("state %q, want capturing (it never finished)", m.State)
	}
	for _, tr := range m.Tracks {
		if len(tr.Segments) < 3 {
			t.Errorf("%s: %d segments survived, want the 3 written before the kill", tr.ID, len(tr.Segments))
		}
		// Every segment file on disk is in the manifest (nothing complete was lost).
		files, _ := filepath.Glob(filepath.Join(out, tr.ID, "*.m4s"))
		if len(files) != len(tr.Segments) {
			t.Errorf("%s: %d segment files, manifest lists %d", tr.ID, len(files), len(tr.Segments))
		}
	}
}

func waitSegments(t *testing.T, dir, track string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(dir, track, "*.m4s"))
		if len(files) >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %d %s segments in %s after %s", n, track, dir, timeout)
}

// TestRecordPauseResume: the paused span is not captured, the timeline runs on without
// a hole, the pause is in the manifest, and sound and picture stay in sync after it.
func TestRecordPauseResume(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rec")
	cmd, text := agent(t, nil, "record", "--synthetic", "--out", out)
	waitSegments(t, out, "camera", 2, 30*time.Second)
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	before := countSegments(out, "camera")
	waitSegments(t, out, "camera", before+2, 30*time.Second)
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("record: %v: %s", err, text)
	}
	m := checkPlayable(t, out)
	if len(m.Pauses) != 1 {
		t.Fatalf("pauses %+v, want one", m.Pauses)
	}
	p := m.Pauses[0]
	if p.Duration < 2.8 || p.Duration > 3.5 || p.At < 3.5 {
		t.Errorf("pause %+v: want about 3 s, after the first 2 segments", p)
	}
	cam := m.Tracks[0]
	frames := mediatest.ReadBarcodes(t, filepath.Join(out, "camera", "index.m3u8"), cam.Width, cam.Height,
		capture.BarcodeBits, capture.BarcodeCell(cam.Height))
	jumps := 0
	for i := 1; i < len(frames); i++ {
		dt := frames[i].PTS - frames[i-1].PTS
		gap := frames[i].Counter - frames[i-1].Counter
		// Across the pause the last frame before it and the first after it each sit
		// up to a frame's time from the pause instants: at most two frame times apart.
		if limit := map[bool]float64{true: 0.050, false: 0.075}[gap == 1]; dt > limit {
			t.Errorf("timeline hole of %.3f s at %.3f s", dt, frames[i].PTS)
		}
		if gap != 1 {
			jumps++
			// The source ran on while paused: about 3 s of frames were not captured.
			if gap < 80 || gap > 105 {
				t.Errorf("counter jumps by %d at %.3f s, want about 90 (3 s paused)", gap, frames[i].PTS)
			}
			if d := frames[i].PTS - encoder.Lead.Seconds() - p.At; d < -0.1 || d > 0.1 {
				t.Errorf("capture resumed at %.3f s of media time, manifest says %.3f s", frames[i].PTS, p.At)
			}
		}
	}
	if jumps != 1 {
		t.Errorf("counter jumped %d times, want once (at the pause)", jumps)
	}
	if n, _ := checkSync(t, frames, filepath.Join(out, "audio", "index.m3u8")); n < 6 {
		t.Errorf("found %d flashes, want one a second", n)
	}
}

func countSegments(dir, track string) int {
	files, _ := filepath.Glob(filepath.Join(dir, track, "*.m4s"))
	return len(files)
}
