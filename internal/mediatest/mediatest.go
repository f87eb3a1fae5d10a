// Package mediatest checks recordings with the real FFmpeg tools and runs the real
// programs tests need (Xvfb). It is for tests and benchmarks only.
package mediatest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/manifest"
)

// StartXvfb starts a virtual X server of the given size and returns its display
// (":N"); the server stops when the test ends.
func StartXvfb(tb testing.TB, width, height int) string {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", width, height),
		"-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stderr = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start Xvfb (make setup installs it): %v", err)
	}
	w.Close()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
		r.Close()
	}()
	select {
	case n := <-line:
		if n == "" {
			tb.Fatal("Xvfb did not report a display")
		}
		return ":" + n
	case <-time.After(20 * time.Second):
		tb.Fatal("Xvfb did not start within 20 s")
	}
	return ""
}

// Stream is what ffprobe reports of one stream.
type Stream struct {
	CodecName  string `json:"codec_name"`
	CodecType  string `json:"codec_type"`
	Profile    string `json:"profile"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	SampleRate string `json:"sample_rate"`
	StartTime  string `json:"start_time"`
	Duration   string `json:"duration"`
}

// Probe is what ffprobe reports of a file or playlist.
type Probe struct {
	Streams []Stream `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		StartTime  string `json:"start_time"`
	} `json:"format"`
}

// Duration is the container's duration in seconds.
func (p Probe) Duration() float64 { f, _ := strconv.ParseFloat(p.Format.Duration, 64); return f }

// StartTime is the container's start time in seconds.
func (p Probe) StartTime() float64 { f, _ := strconv.ParseFloat(p.Format.StartTime, 64); return f }

// FFprobe runs ffprobe on path (a file or playlist) and fails the test when ffprobe
// cannot open it or reports an error.
func FFprobe(tb testing.TB, path string) Probe {
	tb.Helper()
	out, err := run("ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path)
	if err != nil {
		tb.Fatalf("ffprobe %s: %v", path, err)
	}
	var p Probe
	if err := json.Unmarshal(out, &p); err != nil {
		tb.Fatalf("ffprobe %s: %v", path, err)
	}
	return p
}

// Packet is one packet as ffprobe lists it.
type Packet struct {
	PTS      float64
	Duration float64
	Key      bool
}

// Packets lists the packets of the first stream of path.
func Packets(tb testing.TB, path string) []Packet {
	tb.Helper()
	out, err := run("ffprobe", "-v", "error", "-select_streams", "0", "-show_entries", "packet=pts_time,duration_time,flags", "-of", "csv=p=0", path)
	if err != nil {
		tb.Fatalf("ffprobe packets %s: %v", path, err)
	}
	var ps []Packet
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		pts, _ := strconv.ParseFloat(f[0], 64)
		dur, _ := strconv.ParseFloat(f[1], 64)
		ps = append(ps, Packet{PTS: pts, Duration: dur, Key: strings.Contains(f[2], "K")})
	}
	return ps
}

// SegmentFile joins an init segment and a media segment into one file ffprobe can open
// on its own, and returns its path.
func SegmentFile(tb testing.TB, initPath, segPath string) string {
	tb.Helper()
	init, err := os.ReadFile(initPath)
	if err != nil {
		tb.Fatal(err)
	}
	seg, err := os.ReadFile(segPath)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), filepath.Base(segPath)+".mp4")
	if err := os.WriteFile(p, append(init, seg...), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BarcodeFrame is one decoded picture of the synthetic source, read back.
type BarcodeFrame struct {
	// PTS of the picture in seconds.
	PTS float64
	// Counter is the frame number burned into the picture, or -1 when unreadable.
	Counter int
	// Flash reports the white flash the source shows once a second.
	Flash bool
}

// ReadBarcodes decodes the video of path and reads the synthetic source's frame
// counter (bits cells of cell pixels along the bottom) and flash from each picture.
func ReadBarcodes(tb testing.TB, path string, width, height, bits, cell int) []BarcodeFrame {
	tb.Helper()
	pk := Packets(tb, path)
	w, h := (bits+2)*cell, 2*cell
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough",
		"-vf", fmt.Sprintf("crop=%d:%d:0:%d,format=gray", w, h, height-h), "-f", "rawvideo", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("decode %s: %v: %s", path, err, stderr.String())
	}
	n := len(out) / (w * h)
	if n != len(pk) {
		tb.Fatalf("decoded %d pictures from %s but it has %d packets", n, path, len(pk))
	}
	frames := make([]BarcodeFrame, n)
	for i := range n {
		img := out[i*w*h : (i+1)*w*h]
		at := func(x, y int) byte { return img[y*w+x] }
		var sum int
		for y := 0; y < cell; y++ {
			for x := 0; x < w; x++ {
				sum += int(at(x, y))
			}
		}
		f := BarcodeFrame{PTS: pk[i].PTS, Flash: sum/(cell*w) > 200}
		cy := cell + cell/2
		// Start cell white, end cell black: otherwise the strip is not there.
		if at(cell/2, cy) < 128 || at((bits+1)*cell+cell/2, cy) > 128 {
			f.Counter = -1
		} else {
			for b := 0; b < bits; b++ {
				if at((b+1)*cell+cell/2, cy) >= 128 {
					f.Counter |= 1 << b
				}
			}
		}
		frames[i] = f
	}
	return frames
}

// Clicks decodes the audio of path and returns the times (seconds) where a click
// begins: the absolute sample value jumps above threshold after at least gap of quiet.
func Clicks(tb testing.TB, path string, threshold float64, gap time.Duration) []float64 {
	tb.Helper()
	p := FFprobe(tb, path)
	start := 0.0
	for _, s := range p.Streams {
		if s.CodecType == "audio" {
			start, _ = strconv.ParseFloat(s.StartTime, 64)
		}
	}
	const rate = 48000
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a:0", "-ac", "1", "-ar", strconv.Itoa(rate), "-f", "f32le", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("decode %s: %v: %s", path, err, stderr.String())
	}
	var clicks []float64
	quiet := int(gap.Seconds() * rate)
	last := -quiet
	for i := 0; i+4 <= len(out); i += 4 {
		v := math.Float32frombits(uint32(out[i]) | uint32(out[i+1])<<8 | uint32(out[i+2])<<16 | uint32(out[i+3])<<24)
		if math.Abs(float64(v)) > threshold {
			n := i / 4
			if n-last >= quiet {
				clicks = append(clicks, start+float64(n)/rate)
			}
			last = n
		}
	}
	return clicks
}

func run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		return out, fmt.Errorf("%s reported: %s", name, s)
	}
	return out, nil
}

// ReadManifest reads and strictly decodes dir/manifest.json.
func ReadManifest(tb testing.TB, dir string) *manifest.Manifest {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, "manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m, err := manifest.Decode(f)
	if err != nil {
		tb.Fatalf("%s/manifest.json: %v", dir, err)
	}
	return m
}
