package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"filippo.io/age"

	"github.com/aulacapture/aula/agent/spool"
	"github.com/aulacapture/aula/internal/hls"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
)

// runQueue shows the spool: from the running agent when there is one (with its rate),
// else from the spool on disk.
func runQueue(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "queue", "queue [--json] [--data DIR]")
	data := fs.String("data", "", "the agent's data `DIR` (default "+defaultDataDir(env.Getenv)+")")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		*data = defaultDataDir(env.Getenv)
	}
	q, ok, err := askRunning(ctx, *data)
	if err != nil {
		return err
	}
	if !ok {
		dir := filepath.Join(*data, "spool")
		if _, err := os.Stat(filepath.Join(dir, "spool.db")); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no spool in %s: nothing was recorded with --server on this data directory", dir)
		}
		sp, err := spool.Open(dir, nil)
		if err != nil {
			return spoolError(dir, err)
		}
		q, err = queueStatus(sp, nil)
		sp.Close()
		if err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(q)
	}
	printQueue(env.Stdout, q)
	return nil
}

// printQueue prints one line per recording with a progress bar, then the totals.
func printQueue(w io.Writer, q QueueStatus) {
	if len(q.Recordings) == 0 {
		fmt.Fprintln(w, "The spool is empty.")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RECORDING\tSTATE\tLENGTH\tSEGMENTS\tUPLOADED\t")
		for _, r := range q.Recordings {
			total := r.PendingBytes + r.AckedBytes
			pct := 100.0
			if total > 0 {
				pct = float64(r.AckedBytes) * 100 / float64(total)
			}
			segs := fmt.Sprintf("%d acked, %d waiting", r.Acked, r.Pending+r.Uploading)
			if r.Lost > 0 {
				segs += fmt.Sprintf(", %d lost", r.Lost)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %3.0f%% %s of %s\t\n", r.ID, r.State,
				(time.Duration(r.Duration) * time.Second).String(), segs, bar(pct, 20), pct, humanBytes(r.AckedBytes), humanBytes(total))
		}
		tw.Flush()
	}
	line := fmt.Sprintf("%s waiting for upload", humanBytes(q.PendingBytes))
	if u := q.Uploader; u != nil {
		line += fmt.Sprintf("; uploading %d at once at %s/s", u.InFlight, humanBytes(int64(u.Rate)))
		if q.ETASeconds != nil {
			line += ", about " + eta(*q.ETASeconds) + " left"
		}
		if !u.WindowOpen {
			line += "; next upload window " + u.NextWindow.Format("Mon 15:04")
		}
		if u.LastError != "" && time.Since(u.LastErrorAt) < 5*time.Minute {
			line += "; last error: " + u.LastError
		}
	} else if q.PendingBytes > 0 {
		line += "; no agent is uploading now (run 'aula-agent upload --wait')"
	}
	fmt.Fprintln(w, line)
}

// runExport decrypts spooled recordings with the admin's recovery identity into plain
// folders that any HLS player opens.
func runExport(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "export", "export --recovery-key FILE [--data DIR] [--recording ID] OUTDIR")
	key := fs.String("recovery-key", "", "the recovery identity: a `FILE` holding AGE-SECRET-KEY-1…, or - for standard input")
	data := fs.String("data", "", "the agent's data `DIR` (default "+defaultDataDir(env.Getenv)+")")
	only := fs.String("recording", "", "export only this recording `ID` (default: every recording in the spool)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return ErrUsage
	}
	if *key == "" || fs.NArg() != 1 {
		fmt.Fprintln(env.Stderr, "export needs --recovery-key FILE and an output folder.")
		fs.Usage()
		return ErrUsage
	}
	ids, err := readIdentities(env, *key)
	if err != nil {
		return err
	}
	if *data == "" {
		*data = defaultDataDir(env.Getenv)
	}
	dir := filepath.Join(*data, "spool")
	sp, err := spool.Open(dir, nil)
	if err != nil {
		return spoolError(dir, err)
	}
	defer sp.Close()
	stats, err := sp.Stats()
	if err != nil {
		return err
	}
	out := fs.Arg(0)
	exported := 0
	for _, st := range stats {
		if *only != "" && st.ID != *only {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := exportRecording(sp, st.ID, ids, filepath.Join(out, st.ID))
		if errors.Is(err, spool.ErrNotFound) {
			fmt.Fprintf(env.Stderr, "%s: no manifest (it stopped before its first segment); skipped\n", st.ID)
			continue
		}
		if errors.Is(err, errNothingToExport) {
			fmt.Fprintf(env.Stderr, "%s: no media segment left in the spool (uploaded and not kept); skipped\n", st.ID)
			continue
		}
		if err != nil {
			return fmt.Errorf("export %s: %w", st.ID, err)
		}
		fmt.Fprintf(env.Stderr, "%s: %d segments into %s\n", st.ID, n, filepath.Join(out, st.ID))
		exported++
	}
	if exported == 0 {
		return fmt.Errorf("no recording to export in %s", dir)
	}
	return nil
}

func readIdentities(env Env, path string) ([]age.Identity, error) {
	var r io.Reader
	if path == "-" {
		r = env.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read the recovery key: %w", err)
		}
		defer f.Close()
		r = f
	}
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, fmt.Errorf("the recovery key is not an age identity (AGE-SECRET-KEY-1…): %w", err)
	}
	return ids, nil
}

// exportRecording writes what the spool still holds of recording id, decrypted, as a
// folder like `record --out` makes. Segments already uploaded and deleted are missing;
// the playlists name only what was exported.
func exportRecording(sp *spool.Spool, id string, ids []age.Identity, out string) (int, error) {
	sealedMan, err := sp.SealedManifest(id)
	if err != nil {
		return 0, err
	}
	plainMan, err := seal.Open(sealedMan, manifest.MaxSize, ids...)
	if err != nil {
		return 0, fmt.Errorf("the recovery key does not open this spool (was it recorded with --recovery-recipient?): %w", err)
	}
	m, err := manifest.Decode(bytes.NewReader(plainMan))
	if err != nil {
		return 0, err
	}
	items, err := sp.Items(id)
	if err != nil {
		return 0, err
	}
	have := map[string]string{} // "track/seq" → digest of the plaintext
	n := 0
	for _, it := range items {
		f, err := sp.OpenSealed(it)
		if err != nil {
			continue // acked and deleted, or lost
		}
		sealed, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return n, err
		}
		plain, err := seal.Open(sealed, spool.MaxSegmentSize, ids...)
		if err != nil {
			return n, fmt.Errorf("%s/%d: %w", it.Track, it.Seq, err)
		}
		name := "init.mp4"
		if it.Seq > 0 {
			name = hls.SegmentName(it.Seq)
		}
		if err := os.MkdirAll(filepath.Join(out, it.Track), 0o750); err != nil {
			return n, err
		}
		if err := os.WriteFile(filepath.Join(out, it.Track, name), plain, 0o640); err != nil {
			return n, err
		}
		have[fmt.Sprintf("%s/%d", it.Track, it.Seq)] = manifest.Digest(plain)
		if it.Seq > 0 {
			n++
		}
	}
	// Playlists and manifest of what was exported.
	var tracks []manifest.Track
	urls := hls.FileURLs()
	for _, t := range m.Tracks {
		if t.InitDigest = have[t.ID+"/0"]; t.InitDigest == "" {
			continue
		}
		var segs []manifest.Segment
		for _, s := range t.Segments {
			if d := have[fmt.Sprintf("%s/%d", t.ID, s.Seq)]; d != "" {
				s.Digest = d
				if fi, err := os.Stat(filepath.Join(out, t.ID, hls.SegmentName(s.Seq))); err == nil {
					s.Size = fi.Size()
				}
				segs = append(segs, s)
			}
		}
		if len(segs) == 0 {
			continue // an init segment alone plays nothing, and players stumble on it
		}
		t.Segments = segs
		tracks = append(tracks, t)
		var b bytes.Buffer
		if err := hls.WriteMedia(&b, t, true, 3*time.Second, urls); err != nil {
			return n, err
		}
		if err := os.WriteFile(filepath.Join(out, t.ID, "index.m3u8"), b.Bytes(), 0o640); err != nil {
			return n, err
		}
	}
	if len(tracks) == 0 {
		_ = os.RemoveAll(out)
		return 0, errNothingToExport
	}
	m.Tracks = tracks
	var b bytes.Buffer
	if err := hls.WriteMaster(&b, m, urls); err != nil {
		return n, err
	}
	if err := os.WriteFile(filepath.Join(out, "index.m3u8"), b.Bytes(), 0o640); err != nil {
		return n, err
	}
	b.Reset()
	if err := m.Encode(&b); err != nil {
		return n, err
	}
	return n, os.WriteFile(filepath.Join(out, "manifest.json"), b.Bytes(), 0o640)
}

var errNothingToExport = errors.New("no media segment left in the spool")

// runRecoveryKey makes an admin's recovery identity: the file holds the secret (keep it
// off the lecture-hall PCs), the printed recipient goes to --recovery-recipient.
func runRecoveryKey(env Env, args []string) error {
	if len(args) != 2 || args[0] != "new" {
		fmt.Fprintln(env.Stderr, "Usage: aula-agent recovery-key new FILE")
		return ErrUsage
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the recovery key: %w", err)
	}
	_, err = fmt.Fprintf(f, "# Aula recovery key, made %s\n# recipient: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the recovery key: %w", err)
	}
	fmt.Fprintf(env.Stderr, "Wrote the recovery key to %s: keep it safe and off the recording PCs. Record with:\n", args[1])
	fmt.Fprintf(env.Stdout, "--recovery-recipient %s\n", id.Recipient())
	return nil
}
