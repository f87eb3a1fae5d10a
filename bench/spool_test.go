package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"

	"github.com/aulacapture/aula/agent/spool"
	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
)

// BenchmarkSpool measures the agent's spool and uploader, each beside a reference in the
// same run:
//
//   - seal and enqueue AULA_BENCH_SPOOL_MB (default 2048) MB of ~1 MB H.264 segments on
//     one core (GOMAXPROCS=1: age, fsync of file and directory, bbolt commit), against
//     plain buffered writes of the same plaintext to files;
//   - drain that backlog (about an hour of lecture) to a local aula-server, 8 uploads at
//     once, against the ingest benchmark's reference: a plain Go HTTPS PUT of the same
//     sealed bytes, 8 at once, to a handler that discards them;
//   - the peak RSS of aula-agent recording a 1080p screen, a 720p camera and audio for
//     AULA_BENCH_SECONDS (default 30) while it uploads.
func BenchmarkSpool(b *testing.B) {
	const workers = 8
	totalMB := envInt(b, "AULA_BENCH_SPOOL_MB", 2048)
	recSecs := envInt(b, "AULA_BENCH_SECONDS", 30)
	bins := b.TempDir()
	agentBin := goBuild(b, bins, "aula-agent")
	serverBin := goBuild(b, bins, "aula-server")

	camera, initPlain, segPlain := cameraSegment(b, agentBin)
	n := max(1, totalMB*1_000_000/len(segPlain))
	ctx := b.Context()

	for b.Loop() {
		data := filepath.Join(b.TempDir(), "data")
		admin := newTenant(b, serverBin, data)
		srv := startServer(b, serverBin, data)
		c, err := upload.NewClient(srv.url, admin.token, srv.cert)
		if err != nil {
			b.Fatal(err)
		}
		recipient, err := c.Recipient(ctx)
		if err != nil {
			b.Fatal(err)
		}

		// 1. Seal and enqueue on one core, then the plain writes.
		spoolDir := filepath.Join(b.TempDir(), "spool")
		sp, err := spool.Open(spoolDir, &spool.Options{Recipients: []age.Recipient{recipient}, MinFreeBytes: -1})
		if err != nil {
			b.Fatal(err)
		}
		id, err := uuid.NewV7()
		if err != nil {
			b.Fatal(err)
		}
		w, err := sp.Recording(id.String())
		if err != nil {
			b.Fatal(err)
		}
		m := &manifest.Manifest{ID: id.String(), Title: "spool benchmark", State: manifest.StateCapturing,
			StartedAt: time.Now().UTC(), Pauses: []manifest.Pause{}, Tracks: []manifest.Track{{
				ID: camera.ID, Kind: camera.Kind, Codec: camera.Codec, Width: camera.Width, Height: camera.Height,
				Bandwidth: camera.Bandwidth, Segments: []manifest.Segment{}}}}
		if err := w.Init(camera.ID, initPlain); err != nil {
			b.Fatal(err)
		}
		if err := w.Manifest(m); err != nil {
			b.Fatal(err)
		}
		prev := runtime.GOMAXPROCS(1)
		// Sealing alone, in memory: age's X25519 header and ChaCha20-Poly1305 chunks.
		var sealed bytes.Buffer
		start := time.Now()
		for range n {
			sealed.Reset()
			if err := seal.Seal(&sealed, segPlain, recipient); err != nil {
				b.Fatal(err)
			}
		}
		sealOnlyWall := time.Since(start)
		start = time.Now()
		for seq := 1; seq <= n; seq++ {
			if err := w.Segment(camera.ID, seq, segPlain, nil); err != nil {
				b.Fatal(err)
			}
		}
		sealWall := time.Since(start)
		// The recorder rewrites the sealed manifest after each segment; at the end of
		// an hour that manifest is the largest it gets.
		t := &m.Tracks[0]
		dur := camera.Segments[0].Duration
		for i := range n {
			t.Segments = append(t.Segments, manifest.Segment{Seq: i + 1, Start: camera.Segments[0].Start + float64(i)*dur,
				Duration: dur, Size: int64(len(segPlain)), Digest: manifest.Digest(segPlain)})
		}
		m.State = manifest.StateCaptureFinished
		start = time.Now()
		if err := w.Finish(m); err != nil {
			b.Fatal(err)
		}
		manifestWall := time.Since(start)
		plainDir := b.TempDir()
		start = time.Now()
		for seq := 1; seq <= n; seq++ {
			if err := writePlain(filepath.Join(plainDir, strconv.Itoa(seq)+".m4s"), segPlain); err != nil {
				b.Fatal(err)
			}
		}
		plainWall := time.Since(start)
		runtime.GOMAXPROCS(prev)
		if err := os.RemoveAll(plainDir); err != nil {
			b.Fatal(err)
		}

		// 2. The reference PUTs of the sealed bytes, then the drain of the spool.
		st, err := sp.Stats()
		if err != nil || len(st) != 1 {
			b.Fatalf("spool stats %+v: %v", st, err)
		}
		sealedBytes := st[0].PendingBytes
		items, err := sp.Pending(ctx, 2)
		if err != nil || len(items) != 2 {
			b.Fatalf("pending: %v", err)
		}
		f, err := sp.OpenSealed(items[1])
		if err != nil {
			b.Fatal(err)
		}
		sealedSeg := make([]byte, items[1].Size)
		_, err = f.Read(sealedSeg)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		ref := startDiscard(b, srv.cert, srv.key)
		refClient, err := trustingClient(srv.cert)
		if err != nil {
			b.Fatal(err)
		}
		refWall, err := putAll(ctx, workers, n, func(ctx context.Context, seq int) error {
			return plainPut(ctx, refClient, ref.url+"/segments/"+strconv.Itoa(seq), sealedSeg)
		})
		if err != nil {
			b.Fatalf("reference upload: %v", err)
		}
		refClient.CloseIdleConnections()
		ref.Close()

		u := upload.NewUploader(sp, c, upload.Options{Parallel: workers})
		start = time.Now()
		if err := u.Drain(ctx); err != nil {
			b.Fatalf("drain: %v\n%s", err, srv.logTail())
		}
		drainWall := time.Since(start)
		if st, err := sp.Stats(); err != nil || !st[0].Completed || st[0].Acked != n+1 {
			b.Fatalf("after the drain: %+v %v", st, err)
		}
		if err := sp.Close(); err != nil {
			b.Fatal(err)
		}
		c.HTTP.CloseIdleConnections()

		// 3. A real agent recording and uploading at once.
		agentData := b.TempDir()
		agentUse, agentAnon := runMeasuredEnv(b, []string{"AULA_TOKEN=" + admin.token}, agentBin, "record",
			"--screen=synthetic,size=1920x1080", "--camera=synthetic,size=1280x720", "--mic=synthetic",
			"--duration", strconv.Itoa(recSecs)+"s", "--title", "RSS benchmark",
			"--server", srv.url, "--server-ca", srv.cert, "--data", agentData)
		srv.stop(b)

		plainBytes := float64(n * len(segPlain))
		sealRate := plainBytes / 1e6 / sealWall.Seconds()
		sealOnlyRate := plainBytes / 1e6 / sealOnlyWall.Seconds()
		plainRate := plainBytes / 1e6 / plainWall.Seconds()
		drainRate := float64(sealedBytes) / 1e6 / drainWall.Seconds()
		refRate := float64(int64(n)*int64(len(sealedSeg))) / 1e6 / refWall.Seconds()
		fmt.Printf("\nspool: %d segments of %d bytes (%.0f MB, %.1f h of this camera track)\n",
			n, len(segPlain), plainBytes/1e6, float64(n)*dur/3600)
		fmt.Printf("  %-52s %8s %8s\n", "", "MB/s", "wall s")
		fmt.Printf("  %-52s %8.1f %8.2f\n", "sealing alone (age, in memory), 1 core", sealOnlyRate, sealOnlyWall.Seconds())
		fmt.Printf("  %-52s %8.1f %8.2f\n", "seal + enqueue, 1 core (age, fsyncs, bbolt)", sealRate, sealWall.Seconds())
		fmt.Printf("  %-52s %8.1f %8.2f\n", "plain buffered file writes, 1 core", plainRate, plainWall.Seconds())
		fmt.Printf("  seal+enqueue / plain writes %.3f; sealing goal >= 500 MB/s on one core; final manifest of %d segments sealed and written in %.1f ms\n",
			sealRate/plainRate, n, float64(manifestWall.Microseconds())/1e3)
		fmt.Printf("  %-52s %8.1f %8.2f\n", fmt.Sprintf("drain to aula-server, %d at once (complete incl.)", workers), drainRate, drainWall.Seconds())
		fmt.Printf("  %-52s %8.1f %8.2f\n", fmt.Sprintf("plain HTTPS PUT to io.Discard, %d at once", workers), refRate, refWall.Seconds())
		fmt.Printf("  drain ratio %.3f (goal >= 0.5)\n", drainRate/refRate)
		fmt.Printf("  aula-agent recording 1080p screen + 720p camera + audio for %d s while uploading: peak RSS %.1f MB (goal <= 150), of it private %.1f MB (the rest shared library pages), CPU %.1f s\n",
			recSecs, float64(agentUse.maxRSS)/1e6, float64(agentAnon)/1e6, agentUse.cpu.Seconds())
		b.ReportMetric(sealOnlyRate, "seal-MB/s")
		b.ReportMetric(sealRate, "seal+enqueue-MB/s")
		b.ReportMetric(plainRate, "plainwrite-MB/s")
		b.ReportMetric(drainRate, "drain-MB/s")
		b.ReportMetric(refRate, "plainput-MB/s")
		b.ReportMetric(drainRate/refRate, "drain-ratio")
		b.ReportMetric(float64(agentUse.maxRSS)/1e6, "agent-rss-MB")
		b.ReportMetric(float64(agentAnon)/1e6, "agent-private-MB")
	}
}

// writePlain is the reference write: a buffered write of the bytes to a new file.
func writePlain(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if _, err := w.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}

// runMeasuredEnv is runMeasured with extra environment variables; it also samples the
// process's private (anonymous) memory, which RSS mixes with shared library pages.
func runMeasuredEnv(b *testing.B, env []string, name string, args ...string) (usage, int64) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	var peakAnon int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		path := fmt.Sprintf("/proc/%d/smaps_rollup", cmd.Process.Pid)
		for {
			if raw, err := os.ReadFile(path); err == nil {
				for line := range strings.Lines(string(raw)) {
					if v, ok := strings.CutPrefix(line, "Anonymous:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
						peakAnon = max(peakAnon, kb*1024)
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-sampled
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return usageOf(cmd, start), peakAnon
}

// usageOf reads a finished command's CPU time and peak RSS.
func usageOf(cmd *exec.Cmd, start time.Time) usage {
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), maxRSS: ru.Maxrss * 1024, wall: time.Since(start)}
}
