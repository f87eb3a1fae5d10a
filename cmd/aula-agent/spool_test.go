package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/aulacapture/aula/agent/cli"
	"github.com/aulacapture/aula/agent/spool"
	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/servertest"
)

// soakRounds is rounds for `make test`, or the soak count with AULA_SOAK=1 (`make soak`).
func soakRounds(short, soak int) int {
	if os.Getenv("AULA_SOAK") != "" {
		return soak
	}
	return short
}

// plaintextNeedles are bytes every recording holds in the clear and no sealed file may:
// the init segment's ftyp, each fragment's moof+mfhd headers, and the title.
func plaintextNeedles(title string) [][]byte {
	return [][]byte{
		[]byte("ftypiso6\x00\x00\x02\x00iso6cmfc"),
		[]byte("moof\x00\x00\x00\x10mfhd"),
		[]byte(title),
		[]byte(`"started_at"`),
	}
}

// scanPlaintext reads every file under dir (temporary files included) and reports the
// first that holds a needle.
func scanPlaintext(dir string, needles [][]byte) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return nil // files come and go while recording
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				return fmt.Errorf("%s holds plaintext %q", p, n)
			}
		}
		return nil
	})
}

// recoveryKey makes an admin recovery identity file and returns its path and recipient.
func recoveryKey(t *testing.T) (string, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "recovery.key")
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id.Recipient().String()
}

func serverArgs(srv *servertest.Server, data string) []string {
	return []string{"--server", srv.URL, "--server-ca", srv.Cert, "--data", data}
}

func tokenEnv(srv *servertest.Server) []string { return []string{"AULA_TOKEN=" + srv.Token} }

// runAgentEnv runs aula-agent with env to its end and returns its exit code and output.
func runAgentEnv(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, agentBin, args...)
	cmd.Env = append(os.Environ(), env...)
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

// queueJSON runs `aula-agent queue --json`.
func queueJSON(t *testing.T, data string) cli.QueueStatus {
	t.Helper()
	code, out := runAgentEnv(t, nil, "queue", "--json", "--data", data)
	if code != 0 {
		t.Fatalf("queue: %s", out)
	}
	var q cli.QueueStatus
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatalf("queue --json: %v: %s", err, out)
	}
	return q
}

// checkSpoolOnServer asserts, for every recording in the agent's spool, that each segment
// sealed into it is on the server exactly once with the digest it was sealed with, that
// the server holds nothing else, and that the recording completed. The spool index must
// pass its check (spool.Open checks it). It returns the number of segments.
func checkSpoolOnServer(t *testing.T, srv *servertest.Server, data string) int {
	t.Helper()
	sp, err := spool.Open(filepath.Join(data, "spool"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if rep := sp.Recovered(); rep.Rebuilt || len(rep.Lost) > 0 {
		t.Errorf("the spool index needed repair after the drain: %+v", rep)
	}
	c, err := upload.NewClient(srv.URL, srv.Token, srv.Cert)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := sp.Stats()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, st := range stats {
		if !st.Completed || st.Pending > 0 || st.Lost > 0 {
			t.Errorf("recording %s in the spool: %+v", st.ID, st)
		}
		items, err := sp.Items(st.ID)
		if err != nil {
			t.Fatal(err)
		}
		held, err := c.Manifest(context.Background(), st.ID)
		var se *upload.StatusError
		if errors.As(err, &se) && se.Status == 404 && st.Acked == 0 {
			continue // killed before anything could be announced
		}
		if err != nil {
			t.Fatalf("recording %s: %v", st.ID, err)
		}
		if held.State != manifest.StateUploadFinished {
			t.Errorf("recording %s is %s on the server", st.ID, held.State)
		}
		onServer := map[string]string{}
		for _, tr := range held.Tracks {
			if tr.InitDigest != "" {
				onServer[tr.ID+"/0"] = tr.InitDigest
			}
			for _, s := range tr.Segments {
				k := fmt.Sprintf("%s/%d", tr.ID, s.Seq)
				if _, dup := onServer[k]; dup {
					t.Errorf("%s %s twice on the server", st.ID, k)
				}
				onServer[k] = s.Digest
			}
		}
		acked := 0
		for _, it := range items {
			k := fmt.Sprintf("%s/%d", it.Track, it.Seq)
			switch it.State {
			case spool.StateAcked:
				acked++
				if onServer[k] != it.Digest {
					t.Errorf("%s %s: server digest %q, sealed %q", st.ID, k, onServer[k], it.Digest)
				}
			case spool.StateDiscarded:
				if _, ok := onServer[k]; ok {
					t.Errorf("%s %s discarded but on the server", st.ID, k)
				}
			default:
				t.Errorf("%s %s is %s after the drain", st.ID, k, it.State)
			}
		}
		if acked != len(onServer) {
			t.Errorf("recording %s: the server holds %d files, the agent sealed and acked %d", st.ID, len(onServer), acked)
		}
		total += acked
	}
	return total
}

// exportAndProbe decrypts the spool with the recovery key (the uploaded segments were
// kept with --keep-uploaded) and checks that every recording plays.
func exportAndProbe(t *testing.T, data, key string) {
	t.Helper()
	out := t.TempDir()
	if code, text := runAgentEnv(t, nil, "export", "--recovery-key", key, "--data", data, out); code != 0 {
		t.Fatalf("export: %s", text)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(out, e.Name(), "manifest.json")); err == nil {
			checkPlayable(t, filepath.Join(out, e.Name()))
		}
	}
}

// TestRecordAndUpload: `record --server` seals into the spool and uploads while it
// records; nothing in the spool is readable; the recording completes on the server;
// queue shows it; the recovery key exports it and it plays.
func TestRecordAndUpload(t *testing.T) {
	srv := servertest.Start(t, "")
	data := t.TempDir()
	key, recipient := recoveryKey(t)
	const title = "Thermodynamics 101, lecture 7"
	args := append([]string{"record", "--synthetic", "--screen=synthetic,size=640x360", "--duration", "10s",
		"--title", title, "--recovery-recipient", recipient, "--keep-uploaded", "1h"}, serverArgs(srv, data)...)
	start := time.Now()
	cmd, out := agent(t, tokenEnv(srv), args...)

	// While it records: no plaintext in the spool, and segments reach the server.
	c, err := upload.NewClient(srv.URL, srv.Token, srv.Cert)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var firstOnServer time.Duration
	needles := plaintextNeedles(title)
	var scanErr error
	askedLive := false
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("record: %v\n%s", err, out)
			}
			break wait
		case <-tick.C:
			if scanErr == nil {
				scanErr = scanPlaintext(data, needles)
			}
			// Once segments flow, queue asks the running agent (its socket) for the
			// live state, with the uploader's figures.
			if !askedLive && time.Since(start) > 5*time.Second {
				askedLive = true
				q := queueJSON(t, data)
				if q.Uploader == nil || len(q.Recordings) != 1 || q.Recordings[0].State != "recording" || q.Recordings[0].Acked == 0 {
					t.Errorf("queue while recording: %+v", q)
				}
			}
			if firstOnServer == 0 {
				if ids, _ := os.ReadDir(filepath.Join(data, "spool", "segments")); len(ids) == 1 {
					if m, err := c.Manifest(context.Background(), ids[0].Name()); err == nil && len(m.Tracks) > 0 && len(m.Tracks[0].Segments) > 0 {
						firstOnServer = time.Since(start)
					}
				}
			}
		}
	}
	if scanErr != nil {
		t.Error(scanErr)
	}
	if err := scanPlaintext(data, needles); err != nil {
		t.Error(err)
	}
	// The first segment closes about 2 s in (plus start-up); it must be on the server
	// within seconds, long before the 10 s recording ends.
	if firstOnServer == 0 || firstOnServer > 8*time.Second {
		t.Errorf("first segment on the server after %v, want within seconds of closing", firstOnServer)
	}
	id := strings.TrimSpace(lastLine(out.String()))
	if !manifest.ValidID(id) {
		t.Fatalf("record printed %q, want the recording id:\n%s", id, out)
	}
	held, err := c.Manifest(context.Background(), id)
	if err != nil || held.Title != title || held.State != manifest.StateUploadFinished || held.Duration() < 9 {
		t.Fatalf("on the server: %+v %v", held, err)
	}
	if n := checkSpoolOnServer(t, srv, data); n < 3*4 {
		t.Errorf("only %d segments", n)
	}
	q := queueJSON(t, data)
	if len(q.Recordings) != 1 || q.Recordings[0].State != "uploaded" || q.Recordings[0].Pending != 0 || q.PendingBytes != 0 {
		t.Errorf("queue after the upload: %+v", q)
	}
	exportAndProbe(t, data, key)
	t.Logf("first segment on the server %v after start", firstOnServer.Round(time.Millisecond))
}

// TestAgentKilled: rounds of record-and-upload, each SIGKILLed at a random moment
// (capturing, sealing, uploading, committing), the next round starting on the same spool.
// In the end every sealed segment is on the server exactly once, every recording is
// complete and plays, and the spool index passes its check.
func TestAgentKilled(t *testing.T) {
	srv := servertest.Start(t, "")
	data := t.TempDir()
	key, recipient := recoveryKey(t)
	rounds := soakRounds(6, 50)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("%d rounds, seed %d", rounds, seed)
	for i := range rounds {
		args := append([]string{"record", "--synthetic", "--screen=synthetic,size=320x180", "--duration", "4s",
			"--title", "Killed " + strconv.Itoa(i), "--recovery-recipient", recipient, "--keep-uploaded", "1h"}, serverArgs(srv, data)...)
		cmd, out := agent(t, tokenEnv(srv), args...)
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-time.After(time.Duration(300+rng.IntN(5700)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		case <-exited:
			if !cmd.ProcessState.Success() {
				t.Fatalf("round %d: record failed before the kill:\n%s", i, out)
			}
		}
	}
	if code, out := runAgentEnv(t, tokenEnv(srv), append([]string{"upload", "--wait"}, serverArgs(srv, data)...)...); code != 0 {
		t.Fatalf("upload --wait: %s", out)
	}
	n := checkSpoolOnServer(t, srv, data)
	exportAndProbe(t, data, key)
	t.Logf("%d segments on the server after %d kills", n, rounds)
}

// TestServerKilled: the server is SIGKILLed and restarted at random moments while the
// agent records and uploads; the agent retries, and in the end every segment is on the
// server exactly once.
func TestServerKilled(t *testing.T) {
	srv := servertest.StartProcess(t, "")
	data := t.TempDir()
	kills := soakRounds(5, 50)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	duration := time.Duration(kills)*2*time.Second + 6*time.Second
	t.Logf("%d kills in %v of recording, seed %d", kills, duration, seed)
	args := append([]string{"record", "--synthetic", "--screen=synthetic,size=320x180", "--duration", duration.String(),
		"--title", "Server killed"}, serverArgs(srv, data)...)
	cmd, out := agent(t, tokenEnv(srv), args...)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(2 * time.Second)
	for range kills {
		time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
		srv.Kill()
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
		srv.Restart()
	}
	if err := <-done; err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	n := checkSpoolOnServer(t, srv, data)
	if !strings.Contains(out.String(), "retrying") && !strings.Contains(out.String(), "upload failed") {
		t.Logf("the agent never noticed the server going away:\n%s", out)
	}
	t.Logf("%d segments on the server after %d server kills", n, kills)
}

// TestWrongCertificate: a server whose certificate is not the trusted one gets nothing
// and the message says what to do.
func TestWrongCertificate(t *testing.T) {
	srv := servertest.Start(t, "")
	other := servertest.Start(t, "")
	data := t.TempDir()
	code, out := runAgentEnv(t, tokenEnv(srv), "record", "--synthetic", "--duration", "2s",
		"--server", srv.URL, "--server-ca", other.Cert, "--data", data)
	if code == 0 || !strings.Contains(out, "certificate") || !strings.Contains(out, "--server-ca") || !strings.Contains(out, "nothing was sent") {
		t.Fatalf("exit %d, want a refusal naming the certificate:\n%s", code, out)
	}
	// Nor does a plain-HTTP URL work.
	code, out = runAgentEnv(t, tokenEnv(srv), "record", "--synthetic", "--duration", "2s",
		"--server", strings.Replace(srv.URL, "https:", "http:", 1), "--data", data)
	if code == 0 || !strings.Contains(out, "only https") {
		t.Fatalf("exit %d for an http URL:\n%s", code, out)
	}
	if code, out := runAgentEnv(t, tokenEnv(srv), "upload", "--wait", "--server", srv.URL, "--server-ca", other.Cert, "--data", data); code == 0 {
		t.Fatalf("upload --wait to an untrusted server: exit 0:\n%s", out)
	}
}

// TestSpoolDiskFull: the spool's disk fills while recording: the recording stops cleanly
// with one clear sentence, and every segment before is valid and uploaded.
func TestSpoolDiskFull(t *testing.T) {
	srv := servertest.Start(t, "")
	data := mountTmpfs(t, "8m", "")
	key, recipient := recoveryKey(t)
	// Uploaded segments are kept, so the disk fills although the upload keeps up.
	code, out := runAgentEnv(t, tokenEnv(srv), append([]string{"record", "--synthetic", "--duration", "60s",
		"--min-free", "1048576", "--recovery-recipient", recipient, "--keep-uploaded", "1h"}, serverArgs(srv, data)...)...)
	if code == 0 {
		t.Fatalf("exit 0 recording 60 s into 8 MiB while keeping every segment:\n%s", out)
	}
	if !strings.Contains(out, "nearly full") || !strings.Contains(out, "stopped cleanly") {
		t.Errorf("message does not explain the full disk:\n%s", out)
	}
	if code, out := runAgentEnv(t, tokenEnv(srv), append([]string{"upload", "--wait"}, serverArgs(srv, data)...)...); code != 0 {
		t.Fatalf("upload --wait: %s", out)
	}
	if n := checkSpoolOnServer(t, srv, data); n == 0 {
		t.Error("no segment survived the full disk")
	}
	exportAndProbe(t, data, key)
}

// TestServerAway: with the server gone, record still records (sealed to the pinned key),
// gives up waiting for the upload after --upload-patience with a sentence, and
// `upload --wait` sends everything once the server is back.
func TestServerAway(t *testing.T) {
	srv := servertest.StartProcess(t, "")
	data := t.TempDir()
	args := append([]string{"record", "--synthetic", "--screen=synthetic,size=320x180", "--duration", "3s"}, serverArgs(srv, data)...)
	if code, out := runAgentEnv(t, tokenEnv(srv), args...); code != 0 {
		t.Fatalf("first recording: %s", out)
	}
	srv.Kill()
	code, out := runAgentEnv(t, tokenEnv(srv), append(args, "--upload-patience", "3s")...)
	if code == 0 || !strings.Contains(out, "out of reach") || !strings.Contains(strings.ToLower(out), "nothing could be uploaded for 3s") ||
		!strings.Contains(out, "stays in the spool") {
		t.Fatalf("exit %d recording without the server:\n%s", code, out)
	}
	srv.Restart()
	if code, out := runAgentEnv(t, tokenEnv(srv), append([]string{"upload", "--wait"}, serverArgs(srv, data)...)...); code != 0 {
		t.Fatalf("upload --wait: %s", out)
	}
	if n := checkSpoolOnServer(t, srv, data); n == 0 {
		t.Fatal("nothing on the server")
	}
	if q := queueJSON(t, data); len(q.Recordings) != 2 || q.Recordings[1].State != "uploaded" {
		t.Errorf("queue: %+v", q)
	}
}
