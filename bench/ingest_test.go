package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/mediatest"
	"github.com/aulacapture/aula/internal/seal"
	"github.com/aulacapture/aula/server/tlsconf"
)

// BenchmarkIngest uploads AULA_BENCH_INGEST_MB (default 2048) MB of sealed ~1 MB H.264
// segments to aula-server over loopback TLS, 8 at once, and in the same run PUTs the
// same bytes as often, 8 at once, to a Go HTTPS server whose handler only discards
// them. It prints both rates and their ratio, the server's peak RSS and the time from
// complete to a playable recording.
//
// The figures move with the machine: on a filesystem that has just freed many inodes
// (the previous run's segments, other tests' files), ext4 without a journal skips the
// recently freed ones one by one when it allocates an inode, which can cost the server
// a millisecond of CPU per segment; and on two cores, anything else running takes from
// both sides of the ratio unequally.
func BenchmarkIngest(b *testing.B) {
	const workers = 8
	totalMB := envInt(b, "AULA_BENCH_INGEST_MB", 2048)
	bins := b.TempDir()
	agentBin := goBuild(b, bins, "aula-agent")
	serverBin := goBuild(b, bins, "aula-server")
	camera, initPlain, segPlain := cameraSegment(b, agentBin)
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
		var sealedInit, sealedSeg bytes.Buffer
		if err := seal.Seal(&sealedInit, initPlain, recipient); err != nil {
			b.Fatal(err)
		}
		if err := seal.Seal(&sealedSeg, segPlain, recipient); err != nil {
			b.Fatal(err)
		}
		seg := sealedSeg.Bytes()
		n := max(1, totalMB*1_000_000/len(seg))
		bytesSent := float64(n * len(seg))

		// The reference first: a Go HTTPS server with aula-server's TLS settings and
		// certificate, and a plain client with the upload client's transport settings.
		ref := startDiscard(b, srv.cert, srv.key)
		refClient, err := trustingClient(srv.cert)
		if err != nil {
			b.Fatal(err)
		}
		refProto, err := proto(ctx, refClient, ref.url)
		if err != nil {
			b.Fatal(err)
		}
		refWall, err := putAll(ctx, workers, n, func(ctx context.Context, seq int) error {
			return plainPut(ctx, refClient, ref.url+"/segments/"+strconv.Itoa(seq), seg)
		})
		if err != nil {
			b.Fatalf("reference upload: %v", err)
		}
		refClient.CloseIdleConnections()
		ref.Close()

		// Aula: announce, init segment, then the same bytes under seq 1..n.
		aulaProto, err := proto(ctx, c.HTTP, srv.url+"/healthz")
		if err != nil {
			b.Fatal(err)
		}
		id, err := uuid.NewV7()
		if err != nil {
			b.Fatal(err)
		}
		m := &manifest.Manifest{ID: id.String(), Title: "ingest benchmark", State: manifest.StateUploading,
			StartedAt: time.Now().UTC(), Pauses: []manifest.Pause{}, Tracks: []manifest.Track{{
				ID: camera.ID, Kind: camera.Kind, Codec: camera.Codec, Width: camera.Width, Height: camera.Height,
				Bandwidth: camera.Bandwidth, Segments: []manifest.Segment{}}}}
		if err := c.PutRecording(ctx, m); err != nil {
			b.Fatalf("announce: %v\n%s", err, srv.logTail())
		}
		if err := c.PutInit(ctx, m.ID, camera.ID, sealedInit.Bytes()); err != nil {
			b.Fatalf("init segment: %v\n%s", err, srv.logTail())
		}
		// As the agent's uploader does it: the digest comes with the segment from the
		// spool, where it was taken once when the segment was sealed, and is not taken
		// again for each upload. The server checks it against the body every time.
		segDigest := manifest.Digest(seg)
		aulaWall, err := putAll(ctx, workers, n, func(ctx context.Context, seq int) error {
			return c.PutSealed(ctx, m.ID, camera.ID, seq, seg, segDigest, nil)
		})
		if err != nil {
			b.Fatalf("aula upload: %v\n%s", err, srv.logTail())
		}
		uploadRSS := srv.peakRSS(b)

		// The final manifest lists every seq with the sealed bytes' digest, on a 2 s grid.
		final := *m
		final.State = manifest.StateCaptureFinished
		final.Tracks = []manifest.Track{m.Tracks[0]}
		t := &final.Tracks[0]
		t.InitDigest = manifest.Digest(sealedInit.Bytes())
		digest, dur := segDigest, camera.Segments[0].Duration
		t.Segments = make([]manifest.Segment, n)
		for i := range t.Segments {
			t.Segments[i] = manifest.Segment{Seq: i + 1, Start: camera.Segments[0].Start + float64(i)*dur,
				Duration: dur, Size: int64(len(seg)), Digest: digest}
		}
		// A viewer opens the player while the upload is still open (an EVENT playlist),
		// then waits for the VOD playlist with every segment and the end tag.
		viewer, playlist, err := mediaPlaylist(ctx, srv.url, srv.cert, admin, m.ID)
		if err != nil {
			b.Fatalf("%v\n%s", err, srv.logTail())
		}
		if list, err := get(ctx, viewer, playlist, nil); err != nil || strings.Contains(list, "#EXT-X-ENDLIST") {
			b.Fatalf("before complete the media playlist should be an open EVENT playlist: %v\n%.300s", err, list)
		}
		playStart := time.Now()
		if err := c.Complete(ctx, &final); err != nil {
			b.Fatalf("complete: %v\n%s", err, srv.logTail())
		}
		if err := waitVOD(ctx, viewer, playlist, n, 30*time.Second); err != nil {
			b.Fatalf("after complete: %v\n%s", err, srv.logTail())
		}
		toPlayable := time.Since(playStart)
		c.HTTP.CloseIdleConnections()
		viewer.CloseIdleConnections()
		u := srv.stop(b)
		peakRSS := max(uploadRSS, u.maxRSS)

		aulaRate := bytesSent / 1e6 / aulaWall.Seconds()
		refRate := bytesSent / 1e6 / refWall.Seconds()
		ratio := aulaRate / refRate
		fmt.Printf("\ningest %.0f MB: %d sealed %s segments of %d bytes, %d uploads at once, loopback TLS\n",
			bytesSent/1e6, n, camera.Codec, len(seg), workers)
		fmt.Printf("  %-34s %8s %8s %8s\n", "", "MB/s", "wall s", "proto")
		fmt.Printf("  %-34s %8.1f %8.2f %8s\n", "aula-server (open, check, store)", aulaRate, aulaWall.Seconds(), aulaProto)
		fmt.Printf("  %-34s %8.1f %8.2f %8s\n", "Go HTTPS PUT to io.Discard", refRate, refWall.Seconds(), refProto)
		fmt.Printf("  ratio aula/plain %.3f (goal >= 0.5); aula-server peak RSS %.1f MB (goal <= 200), CPU %.1f s\n",
			ratio, float64(peakRSS)/1e6, u.cpu.Seconds())
		fmt.Printf("  complete to playable %.0f ms (goal <= 1000): POST complete sent until the viewer's GET of the media playlist is VOD with %d segments and #EXT-X-ENDLIST\n",
			float64(toPlayable.Microseconds())/1e3, n)
		b.ReportMetric(aulaRate, "aula-MB/s")
		b.ReportMetric(refRate, "plain-MB/s")
		b.ReportMetric(ratio, "ratio")
		b.ReportMetric(float64(peakRSS)/1e6, "server-rss-MB")
		b.ReportMetric(float64(toPlayable.Microseconds())/1e3, "complete-to-playable-ms")
	}
}

// waitVOD polls a media playlist as the viewer until it is a VOD playlist of n segments
// with the end tag.
func waitVOD(ctx context.Context, viewer *http.Client, playlist string, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		list, err := get(ctx, viewer, playlist, nil)
		if err == nil && strings.Contains(list, "#EXT-X-PLAYLIST-TYPE:VOD") && strings.HasSuffix(list, "#EXT-X-ENDLIST\n") &&
			strings.Count(list, "#EXTINF:") == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no VOD playlist of %d segments %s after complete (last error %v): %w", n, timeout, err, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// putAll calls put for seq 1..n from workers goroutines and returns the wall time; the
// first error stops it.
func putAll(ctx context.Context, workers, n int, put func(ctx context.Context, seq int) error) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for seq := int(next.Add(1)); seq <= n && ctx.Err() == nil; seq = int(next.Add(1)) {
				if err := put(ctx, seq); err != nil {
					cancel(fmt.Errorf("segment %d: %w", seq, err))
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), context.Cause(ctx)
}

// plainPut PUTs body to url and drains the answer.
func plainPut(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return err
}

// discardServer is the reference: HTTPS served like aula-server serves it (same TLS
// settings, certificate and timeouts), by a handler that reads each body into
// io.Discard.
type discardServer struct {
	url string
	srv *http.Server
}

func startDiscard(b *testing.B, certFile, keyFile string) *discardServer {
	b.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}),
		TLSConfig:         tlsconf.Config(cert),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	s := &discardServer{url: "https://" + ln.Addr().String(), srv: srv}
	b.Cleanup(s.Close)
	return s
}

// Close stops the server at once.
func (s *discardServer) Close() { _ = s.srv.Close() }

// cameraSegment records 4 s of the synthetic 720p camera at 4 Mb/s with agentBin and
// returns its track, init segment and first media segment (about 1 MB).
func cameraSegment(b *testing.B, agentBin string) (manifest.Track, []byte, []byte) {
	b.Helper()
	rec := filepath.Join(b.TempDir(), "rec")
	if out, err := exec.Command(agentBin, "record", "--camera=synthetic", "--camera-bitrate", "4000000",
		"--encoder", "libx264", "--duration", "4s", "--out", rec).CombinedOutput(); err != nil {
		b.Fatalf("record: %v: %s", err, out)
	}
	camera := mediatest.ReadManifest(b, rec).Tracks[0]
	initPlain, err := os.ReadFile(filepath.Join(rec, camera.ID, "init.mp4"))
	if err != nil {
		b.Fatal(err)
	}
	segPlain, err := os.ReadFile(filepath.Join(rec, camera.ID, "000001.m4s"))
	if err != nil {
		b.Fatal(err)
	}
	return camera, initPlain, segPlain
}
