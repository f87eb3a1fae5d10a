// Package bench holds whole-system benchmarks: each runs Aula and, in the same run, a
// reference doing the same work, and prints both with their ratio.
package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aulacapture/aula/capture"
	"github.com/aulacapture/aula/internal/mediatest"
)

// usage is what one process cost.
type usage struct {
	cpu    time.Duration // user + system
	maxRSS int64         // bytes
	wall   time.Duration
}

// runMeasured runs a command to its end and reports its CPU time and peak RSS.
func runMeasured(b *testing.B, name string, args ...string) usage {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return usage{
		cpu:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		maxRSS: ru.Maxrss * 1024,
		wall:   time.Since(start),
	}
}

// BenchmarkRecordVsFFmpeg records synthetic 1080p30 screen + 720p30 camera + audio
// through aula-agent and, in the same run, through the ffmpeg CLI with the same sources,
// encoder settings and CMAF/HLS output, and prints CPU seconds, peak RSS and dropped
// frames of each with the ratios. AULA_BENCH_SECONDS sets the length (default 60).
func BenchmarkRecordVsFFmpeg(b *testing.B) {
	secs := 60
	if s := os.Getenv("AULA_BENCH_SECONDS"); s != "" {
		secs, _ = strconv.Atoi(s)
	}
	agentBin := filepath.Join(b.TempDir(), "aula-agent")
	if out, err := exec.Command("go", "build", "-o", agentBin, "../cmd/aula-agent").CombinedOutput(); err != nil {
		b.Fatalf("build: %v: %s", err, out)
	}
	screen, _ := capture.ParseSpec(capture.KindScreen, "synthetic")
	camera, _ := capture.ParseSpec(capture.KindCamera, "synthetic")
	mic, _ := capture.ParseSpec(capture.KindMicrophone, "synthetic")
	screenGraph, err := capture.SyntheticGraph([]capture.Spec{screen})
	if err != nil {
		b.Fatal(err)
	}
	camGraph, err := capture.SyntheticGraph([]capture.Spec{camera, mic})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		dir := b.TempDir()
		aulaOut := filepath.Join(dir, "aula")
		aula := runMeasured(b, agentBin, "record", "--screen=synthetic", "--synthetic",
			"--duration", fmt.Sprintf("%ds", secs), "--encoder", "libx264", "--out", aulaOut)

		ffOut := filepath.Join(dir, "ffmpeg")
		for _, t := range []string{"screen", "camera", "audio"} {
			if err := os.MkdirAll(filepath.Join(ffOut, t), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		// The same encodes: x264 veryfast/zerolatency, no B-frames, IDR every 2 s, the
		// bit rates aula-agent picks (0.07 bit per pixel per frame), AAC 64 kb/s mono,
		// each track its own fMP4 HLS rendition with 2 s segments.
		x264 := func(bitrate int) []string {
			return []string{"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0",
				"-b:v", strconv.Itoa(bitrate), "-maxrate", strconv.Itoa(bitrate * 3 / 2), "-bufsize", strconv.Itoa(bitrate * 2),
				"-g", "120", "-forced-idr", "1", "-force_key_frames", "expr:gte(t,n_forced*2)",
				"-x264-params", "scenecut=0:open-gop=0:repeat-headers=1:min-keyint=120"}
		}
		hls := func(track string) []string {
			return []string{"-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "2", "-hls_list_size", "0",
				"-hls_playlist_type", "event", "-hls_fmp4_init_filename", "init.mp4",
				"-hls_segment_filename", filepath.Join(ffOut, track, "%06d.m4s"), filepath.Join(ffOut, track, "index.m3u8")}
		}
		args := []string{"-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", screenGraph[:len(screenGraph)-len("[out0]")],
			"-f", "lavfi", "-i", camGraph, "-t", strconv.Itoa(secs)}
		args = append(args, "-map", "0:v")
		args = append(args, x264(1920*1080*30*7/100)...)
		args = append(args, hls("screen")...)
		args = append(args, "-map", "1:v", "-t", strconv.Itoa(secs))
		args = append(args, x264(1280*720*30*7/100)...)
		args = append(args, hls("camera")...)
		args = append(args, "-map", "1:a", "-t", strconv.Itoa(secs), "-c:a", "aac", "-b:a", "64000", "-ar", "48000")
		args = append(args, hls("audio")...)
		ff := runMeasured(b, "ffmpeg", args...)

		aulaDrop := dropped(b, filepath.Join(aulaOut, "screen", "index.m3u8"), 1080) +
			dropped(b, filepath.Join(aulaOut, "camera", "index.m3u8"), 720)
		ffDrop := dropped(b, filepath.Join(ffOut, "screen", "index.m3u8"), 1080) +
			dropped(b, filepath.Join(ffOut, "camera", "index.m3u8"), 720)
		m := mediatest.ReadManifest(b, aulaOut)

		cpuRatio := aula.cpu.Seconds() / ff.cpu.Seconds()
		rssRatio := float64(aula.maxRSS) / float64(ff.maxRSS)
		fmt.Printf("\nrecord %d s: synthetic 1080p30 screen + 720p30 camera + 48 kHz audio, x264 veryfast\n", secs)
		fmt.Printf("  %-12s %10s %12s %10s %8s\n", "", "CPU s", "peak RSS MB", "wall s", "dropped")
		fmt.Printf("  %-12s %10.2f %12.1f %10.1f %8d\n", "aula-agent", aula.cpu.Seconds(), float64(aula.maxRSS)/1e6, aula.wall.Seconds(), aulaDrop)
		fmt.Printf("  %-12s %10.2f %12.1f %10.1f %8d\n", "ffmpeg CLI", ff.cpu.Seconds(), float64(ff.maxRSS)/1e6, ff.wall.Seconds(), ffDrop)
		fmt.Printf("  ratio aula/ffmpeg: CPU %.3f (goal <= 1.10), RSS %.2f; aula peak RSS %.1f MB (goal <= 250); recording %.1f s\n",
			cpuRatio, rssRatio, float64(aula.maxRSS)/1e6, m.Duration())
		b.ReportMetric(aula.cpu.Seconds(), "aula-cpu-s")
		b.ReportMetric(ff.cpu.Seconds(), "ffmpeg-cpu-s")
		b.ReportMetric(cpuRatio, "cpu-ratio")
		b.ReportMetric(float64(aula.maxRSS)/1e6, "aula-rss-MB")
		b.ReportMetric(float64(ff.maxRSS)/1e6, "ffmpeg-rss-MB")
		b.ReportMetric(float64(aulaDrop), "aula-dropped")
	}
}

// dropped counts the frames missing from a synthetic track, from gaps in its burned-in
// frame counter.
func dropped(b *testing.B, playlist string, height int) int {
	frames := mediatest.ReadBarcodes(b, playlist, 0, height, capture.BarcodeBits, capture.BarcodeCell(height))
	n := 0
	for i := 1; i < len(frames); i++ {
		if frames[i].Counter < 0 || frames[i-1].Counter < 0 {
			n++
			continue
		}
		if gap := frames[i].Counter - frames[i-1].Counter - 1; gap > 0 {
			n += gap
		}
	}
	return n
}
