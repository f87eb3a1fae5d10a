package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/aulacapture/aula/agent/spool"
	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
)

// serverFlags are the flags of commands that talk to the server and use the spool.
type serverFlags struct {
	server, token, ca string
	data              string
	recovery          string
	quota, minFree    int64
	keep              time.Duration
	patience          time.Duration
	bandwidth         int64
	windows           windowsFlag
	parallel          int
	stateEvery        time.Duration
}

type windowsFlag []upload.Window

func (w *windowsFlag) String() string {
	parts := make([]string, len(*w))
	for i, x := range *w {
		parts[i] = x.String()
	}
	return strings.Join(parts, ",")
}

func (w *windowsFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		x, err := upload.ParseWindow(part)
		if err != nil {
			return err
		}
		*w = append(*w, x)
	}
	return nil
}

func (f *serverFlags) register(fs *flag.FlagSet, env Env, spoolFlags bool) {
	fs.StringVar(&f.server, "server", "", "the Aula server, such as https://aula.example.edu or https://127.0.0.1:8443")
	fs.StringVar(&f.token, "token", "", "API token with the ingest scope (default $AULA_TOKEN; prefer the variable, which stays out of process lists)")
	fs.StringVar(&f.ca, "server-ca", "", "trust this PEM certificate too, such as the server's self-signed DATA/tls/cert.pem")
	fs.StringVar(&f.data, "data", "", "the agent's data `DIR`, which holds the spool (default "+defaultDataDir(env.Getenv)+")")
	fs.IntVar(&f.parallel, "parallel", 4, "segments uploaded at once")
	fs.Int64Var(&f.bandwidth, "bandwidth", 0, "upload at most this many `BYTES` a second (0: no limit)")
	def := time.Duration(0)
	if spoolFlags {
		def = 2 * time.Minute // a room PC's next recording must not wait behind an unreachable server
	}
	fs.DurationVar(&f.patience, "upload-patience", def, "stop waiting for the upload after this long without progress, leaving the rest in the spool (0: wait for ever)")
	fs.DurationVar(&f.stateEvery, "state-interval", 30*time.Second, "an enrolled agent reports its state to the server this often (10s to 60s)")
	fs.Var(&f.windows, "upload-window", "upload only between these local times, such as 22:00-06:00 (repeatable; default: any time)")
	if spoolFlags {
		fs.StringVar(&f.recovery, "recovery-recipient", "", "also seal to this age `RECIPIENT` (age1…), so an admin can export the spool without the server")
		fs.Int64Var(&f.quota, "spool-quota", 0, "keep at most this many `BYTES` of sealed segments in the spool (0: no cap)")
		fs.Int64Var(&f.minFree, "min-free", 256<<20, "refuse to start, or stop recording cleanly, when the disk would have less than this many free `BYTES`")
		fs.DurationVar(&f.keep, "keep-uploaded", 0, "keep uploaded segments (sealed) in the spool this long, such as 72h (default: delete once the server has them)")
	}
}

func (f *serverFlags) dataDir(env Env) string {
	if f.data != "" {
		return f.data
	}
	return defaultDataDir(env.Getenv)
}

func (f *serverFlags) spoolDir(env Env) string { return filepath.Join(f.dataDir(env), "spool") }

// client makes the ingest client, taking the token from $AULA_TOKEN when not given.
func (f *serverFlags) client(env Env, cmd string) (*upload.Client, error) {
	if f.server == "" {
		fmt.Fprintf(env.Stderr, "%s needs --server URL.\n", cmd)
		return nil, ErrUsage
	}
	if f.token == "" {
		f.token = env.Getenv("AULA_TOKEN")
	}
	if f.token != "" {
		return upload.NewClient(f.server, f.token, f.ca)
	}
	// No token given: the credential of aula-agent enroll or login, if there is one.
	cred, err := loadCredential(f.dataDir(env), "")
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(env.Stderr, "%s needs a credential: run aula-agent enroll or aula-agent login, or set AULA_TOKEN or pass --token.\n", cmd)
		return nil, ErrUsage
	}
	if err != nil {
		return nil, err
	}
	c, err := upload.NewClient(f.server, "", f.ca)
	if err != nil {
		return nil, err
	}
	if strings.TrimSuffix(cred.Server, "/") != strings.TrimSuffix(c.Base.String(), "/") {
		return nil, fmt.Errorf("the credential in %s is for %s, not %s: enroll or log in again for this server", f.dataDir(env), cred.Server, c.Base)
	}
	c.Tokens = tokenSource(c, cred, func(cr Credential) error { return saveCredential(f.dataDir(env), "", cr) })
	return c, nil
}

func (f *serverFlags) uploader(sp *spool.Spool, c *upload.Client, log *slog.Logger) *upload.Uploader {
	return upload.NewUploader(sp, c, upload.Options{Parallel: f.parallel, BytesPerSecond: f.bandwidth, Windows: f.windows, Log: log})
}

const settingRecipient = "tenant_recipient"

// openSpoolFor opens the spool to record into: sealed to the tenant's recipient, pinned
// in the spool the first time the server gives it, plus the recovery recipient. With the
// server out of reach it records to the pinned recipient; the first time, it cannot.
func (f *serverFlags) openSpoolFor(ctx context.Context, env Env, c *upload.Client, log *slog.Logger) (*spool.Spool, error) {
	dir := f.spoolDir(env)
	sp, err := spool.Open(dir, &spool.Options{Log: log})
	if err != nil {
		return nil, spoolError(dir, err)
	}
	pinned, err := sp.Setting(settingRecipient)
	if err != nil {
		sp.Close()
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	fresh, ferr := c.Recipient(fctx)
	cancel()
	var recipient *age.X25519Recipient
	switch {
	case ferr != nil && (pinned == nil || errors.Is(ferr, upload.ErrCertificate)):
		sp.Close()
		if errors.Is(ferr, upload.ErrCertificate) {
			return nil, ferr
		}
		return nil, fmt.Errorf("cannot fetch the tenant's key from %s, and none is pinned yet, so nothing could be sealed: %w", f.server, ferr)
	case ferr != nil:
		fmt.Fprintf(env.Stderr, "The server is out of reach (%v); recording to the spool, sealed to the pinned key, for upload later.\n", ferr)
		recipient, err = seal.ParseRecipient(string(pinned))
	case pinned == nil:
		recipient = fresh
		err = sp.SetSetting(settingRecipient, []byte(fresh.String()))
	default:
		recipient, err = seal.ParseRecipient(string(pinned))
		if err == nil && recipient.String() != fresh.String() {
			fmt.Fprintf(env.Stderr, "Warning: the server now gives another tenant key than the one pinned on this PC; still sealing to the pinned key. "+
				"If the key was rotated on purpose, remove %s to pin the new one.\n", filepath.Join(dir, "spool.db"))
		}
	}
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("the pinned tenant key: %w", err)
	}
	recipients := []age.Recipient{recipient}
	if f.recovery != "" {
		r, err := seal.ParseRecipient(f.recovery)
		if err != nil {
			sp.Close()
			return nil, fmt.Errorf("--recovery-recipient: %w", err)
		}
		recipients = append(recipients, r)
	}
	sp.Close()
	sp, err = spool.Open(dir, &spool.Options{Recipients: recipients, QuotaBytes: f.quota, MinFreeBytes: minFree(f.minFree), Retain: f.keep, Log: log})
	if err != nil {
		return nil, spoolError(dir, err)
	}
	return sp, nil
}

// minFree maps --min-free to the spool's option, where 0 means the default and a
// negative value no check.
func minFree(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// spoolError explains why the spool cannot be opened.
func spoolError(dir string, err error) error {
	if strings.Contains(err.Error(), "locked by another process") {
		return fmt.Errorf("another aula-agent is using %s (a recording or an upload): wait for it, or watch it with 'aula-agent queue'", dir)
	}
	return fmt.Errorf("cannot open the spool in %s: %w", dir, err)
}

// notifyingStore tells the uploader about each segment the recorder spools.
type notifyingStore struct {
	*spool.Recording
	u *upload.Uploader
}

func (s notifyingStore) Init(track string, data []byte) error {
	err := s.Recording.Init(track, data)
	s.u.Notify()
	return err
}

func (s notifyingStore) Segment(track string, seq int, data []byte, m *manifest.Manifest) error {
	err := s.Recording.Segment(track, seq, data, m)
	s.u.Notify()
	return err
}

func (s notifyingStore) Finish(m *manifest.Manifest) error {
	err := s.Recording.Finish(m)
	s.u.Notify()
	return err
}

// QueueStatus is what `aula-agent queue --json` prints.
type QueueStatus struct {
	// Recordings, oldest first.
	Recordings []QueueRecording `json:"recordings"`
	// Uploader is the running agent's uploader, absent when no agent runs.
	Uploader *upload.Status `json:"uploader,omitempty"`
	// PendingBytes sums the recordings' pending bytes; ETASeconds is PendingBytes at
	// the uploader's rate (absent without a rate).
	PendingBytes int64    `json:"pending_bytes"`
	ETASeconds   *float64 `json:"eta_seconds,omitempty"`
}

// QueueRecording is one recording in the spool.
type QueueRecording struct {
	ID           string    `json:"id"`
	State        string    `json:"state"`
	Created      time.Time `json:"created"`
	Duration     float64   `json:"duration"`
	Pending      int       `json:"segments_pending"`
	Uploading    int       `json:"segments_uploading"`
	Acked        int       `json:"segments_acked"`
	Lost         int       `json:"segments_lost,omitempty"`
	Discarded    int       `json:"segments_discarded,omitempty"`
	PendingBytes int64     `json:"bytes_pending"`
	AckedBytes   int64     `json:"bytes_acked"`
}

// queueStatus sums up sp and, when given, the uploader.
func queueStatus(sp *spool.Spool, u *upload.Uploader) (QueueStatus, error) {
	stats, err := sp.Stats()
	if err != nil {
		return QueueStatus{}, err
	}
	q := QueueStatus{Recordings: []QueueRecording{}}
	for _, s := range stats {
		state := "waiting"
		switch {
		case s.Completed:
			state = "uploaded"
		case s.Live:
			state = "recording"
		case s.Pending == 0 && s.Finished:
			state = "completing"
		case s.Uploading > 0:
			state = "uploading"
		case !s.Finished:
			state = "interrupted"
		}
		q.Recordings = append(q.Recordings, QueueRecording{ID: s.ID, State: state, Created: s.CreatedAt, Duration: s.Duration,
			Pending: s.Pending - s.Uploading, Uploading: s.Uploading, Acked: s.Acked, Lost: s.Lost, Discarded: s.Discarded,
			PendingBytes: s.PendingBytes, AckedBytes: s.AckedBytes})
		q.PendingBytes += s.PendingBytes
	}
	if u != nil {
		st := u.Status()
		q.Uploader = &st
		if st.Rate > 0 {
			eta := float64(q.PendingBytes) / st.Rate
			q.ETASeconds = &eta
		}
	}
	return q, nil
}

// controlSocket is where a running agent answers `aula-agent queue`.
func controlSocket(data string) string { return filepath.Join(data, "agent.sock") }

// serveControl answers GET /queue on the data directory's socket until ctx ends.
func serveControl(ctx context.Context, data string, sp *spool.Spool, u *upload.Uploader, log *slog.Logger) {
	path := controlSocket(data)
	_ = os.Remove(path) // left by a killed agent; the spool's lock says we are the only one
	ln, err := net.Listen("unix", path)
	if err != nil {
		log.Warn("control socket: queue will not show the live upload", "err", err)
		return
	}
	_ = os.Chmod(path, 0o600)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /queue", func(w http.ResponseWriter, r *http.Request) {
		q, err := queueStatus(sp, u)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(q)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
		_ = os.Remove(path)
	}()
}

// askRunning asks a running agent for its queue; ok is false when none answers.
func askRunning(ctx context.Context, data string) (q QueueStatus, ok bool, err error) {
	path := controlSocket(data)
	if _, err := os.Stat(path); err != nil {
		return q, false, nil
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent/queue", nil)
	if err != nil {
		return q, false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return q, false, nil // a socket left by a killed agent
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return q, false, fmt.Errorf("the running agent answered %s", resp.Status)
	}
	return q, true, json.NewDecoder(resp.Body).Decode(&q)
}
