package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/aulacapture/aula/agent/recording"
	"github.com/aulacapture/aula/agent/spool"
	"github.com/aulacapture/aula/agent/upload"
)

// recordToServer records into the sealed spool and uploads while it records; when the
// recording stops it keeps uploading until everything is on the server, or until a
// second Ctrl-C leaves the rest in the spool for the next run.
func recordToServer(ctx context.Context, env Env, f *recordFlags, opts recording.Options, log *slog.Logger) error {
	c, err := f.srv.client(env, "record")
	if err != nil {
		return err
	}
	sp, err := f.srv.openSpoolFor(ctx, env, c, log)
	if err != nil {
		return err
	}
	defer sp.Close()
	dir := f.srv.spoolDir(env)
	if free, err := recording.FreeSpace(dir); err == nil && f.srv.minFree > 0 && free < uint64(f.srv.minFree) {
		return fmt.Errorf("only %s free on the disk of %s, and recording needs at least %s (--min-free): free some space: %w",
			humanBytes(int64(free)), dir, humanBytes(f.srv.minFree), recording.ErrLowDisk)
	}
	if f.srv.quota > 0 && sp.Used() >= f.srv.quota*9/10 {
		return fmt.Errorf("the spool in %s holds %s of its %s quota, waiting for upload: let it upload (aula-agent upload --wait) or raise --spool-quota: %w",
			dir, humanBytes(sp.Used()), humanBytes(f.srv.quota), spool.ErrQuota)
	}
	if err := checkScreens(ctx, f.screen.specs); err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	srec, err := sp.Recording(id.String())
	if err != nil {
		return err
	}
	u := f.srv.uploader(sp, c, log)
	opts.ID = id.String()
	opts.Store = notifyingStore{Recording: srec, u: u}
	rec, err := recording.New(opts)
	if err != nil {
		srec.Abandon()
		return err
	}

	// Uploads outlive the recording: they stop on their own once everything is
	// uploaded, or on a second signal.
	upCtx, stopUploads := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUploads()
	serveControl(upCtx, f.srv.dataDir(env), sp, u, log)
	uploaded := make(chan error, 1)
	go func() { uploaded <- u.Run(upCtx) }()
	rep := &stateReporter{c: c, sp: sp, u: u, dir: dir, interval: min(max(f.srv.stateEvery, time.Second), time.Minute), log: log}
	rep.set("capturing", rec.ID())
	reported := make(chan struct{})
	go func() { rep.run(upCtx); close(reported) }()
	defer func() { stopUploads(); <-reported }()

	fmt.Fprintf(env.Stderr, "Recording %s, sealed into %s and uploaded to %s as it records\n", rec.ID(), dir, f.srv.server)
	m, recErr := runRecorder(ctx, env, rec, func() string { return uploadLine(sp, u) })
	srec.Abandon() // after an error there is no final manifest; the last one stands
	segments := 0
	for _, t := range m.Tracks {
		segments += len(t.Segments)
	}
	if recErr != nil && !rec.Started() {
		stopUploads()
		<-uploaded
		return recErr
	}
	if recErr == nil {
		fmt.Fprintf(env.Stderr, "Recorded %.1f s in %d segments (%s).\n", m.Duration(), segments, encoders(rec))
		rep.set("uploading", rec.ID())
	} else {
		fmt.Fprintln(env.Stderr, Message(spoolRecordError(dir, segments, recErr)))
		rep.set("error", rec.ID())
	}

	// Drain what is left; a signal now leaves it for later.
	fmt.Fprintln(env.Stderr, "Uploading the rest; Ctrl-C leaves it in the spool for 'aula-agent upload --wait' or the next recording.")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	u.Finish()
	upErr := waitUploads(env, sp, u, uploaded, sigs, stopUploads, f.srv.patience)
	if recErr != nil {
		return spoolRecordError(dir, segments, recErr)
	}
	if upErr != nil {
		return upErr
	}
	fmt.Fprintf(env.Stderr, "Recording %s is on the server.\n", rec.ID())
	fmt.Fprintln(env.Stdout, rec.ID())
	return nil
}

// waitUploads shows the upload's progress until it ends, a signal stops it, or (when
// patience is positive) nothing has been uploaded for that long.
func waitUploads(env Env, sp *spool.Spool, u *upload.Uploader, done <-chan error, sigs <-chan os.Signal, stop func(), patience time.Duration) error {
	every := time.Second
	if !env.Interactive {
		every = 5 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	// Recordings uploaded before this wait began are not part of its progress.
	before := map[string]bool{}
	if q, err := queueStatus(sp, nil); err == nil {
		for _, r := range q.Recordings {
			before[r.ID] = r.State == "uploaded"
		}
	}
	show := func() {
		line := progressLine(sp, u, before)
		if env.Interactive {
			fmt.Fprintf(env.Stderr, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(env.Stderr, line)
		}
	}
	leave := func(why string) error {
		stop()
		<-done
		if env.Interactive {
			fmt.Fprintln(env.Stderr)
		}
		q, _ := queueStatus(sp, nil)
		return fmt.Errorf("%s; %s stays in the spool, sealed, for 'aula-agent upload --wait' or the next recording", why, humanBytes(q.PendingBytes))
	}
	progress, lastProgress := int64(-1), time.Now()
	for {
		select {
		case err := <-done:
			show()
			if env.Interactive {
				fmt.Fprintln(env.Stderr)
			}
			return uploadError(err)
		case <-sigs:
			return leave("upload stopped")
		case <-tick.C:
			show()
			st := u.Status()
			if p := st.SentBytes + int64(st.Skipped); p != progress {
				progress, lastProgress = p, time.Now()
			}
			if patience > 0 && time.Since(lastProgress) > patience {
				why := fmt.Sprintf("nothing could be uploaded for %s", patience)
				if st.LastError != "" {
					why += " (last error: " + st.LastError + ")"
				}
				return leave(why)
			}
		}
	}
}

// uploadError explains why uploads stopped.
func uploadError(err error) error {
	var se *upload.StatusError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, upload.ErrCertificate):
		return err
	case errors.As(err, &se) && (se.Status == 401 || se.Status == 403):
		return fmt.Errorf("the server refused the token (%s): create a new one with 'aula-server token create' and pass it as AULA_TOKEN; the recording stays in the spool", se.Detail)
	}
	return fmt.Errorf("upload stopped: %w; the segments stay in the spool and are tried again by 'aula-agent upload --wait' or the next recording", err)
}

// spoolRecordError explains a recording that stopped on an error, and what was kept.
func spoolRecordError(dir string, segments int, err error) error {
	kept := fmt.Sprintf("the %d segments recorded before are kept, sealed, and upload", segments)
	if segments == 0 {
		kept = "no segment had been completed"
	}
	switch {
	case errors.Is(err, spool.ErrQuota):
		return fmt.Errorf("the spool in %s reached its quota (--spool-quota), so the recording stopped cleanly; %s: %w", dir, kept, spool.ErrQuota)
	case errors.Is(err, spool.ErrLowDisk), errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("the disk of %s is nearly full, so the recording stopped cleanly; %s: %w", dir, kept, recording.ErrDiskFull)
	}
	return fmt.Errorf("%w; %s", err, kept)
}

// uploadLine is the upload part of the recording's status line.
func uploadLine(sp *spool.Spool, u *upload.Uploader) string {
	q, err := queueStatus(sp, u)
	if err != nil {
		return ""
	}
	pending := 0
	for _, r := range q.Recordings {
		pending += r.Pending + r.Uploading
	}
	line := fmt.Sprintf(" | upload: %d waiting", pending)
	if q.Uploader != nil && q.Uploader.Rate > 0 {
		line += fmt.Sprintf(", %s/s", humanBytes(int64(q.Uploader.Rate)))
	}
	if q.Uploader != nil && !q.Uploader.PausedUntil.IsZero() {
		line += ", retrying"
	}
	return line
}

// progressLine is one line of upload progress over the whole spool.
func progressLine(sp *spool.Spool, u *upload.Uploader, skip map[string]bool) string {
	q, err := queueStatus(sp, u)
	if err != nil {
		return err.Error()
	}
	var done, total int64
	for _, r := range q.Recordings {
		if skip[r.ID] {
			continue
		}
		done += r.AckedBytes
		total += r.AckedBytes + r.PendingBytes
	}
	pct := 100.0
	if total > 0 {
		pct = float64(done) * 100 / float64(total)
	}
	line := fmt.Sprintf("Uploading %s %3.0f%% %s of %s", bar(pct, 30), pct, humanBytes(done), humanBytes(total))
	if st := q.Uploader; st != nil {
		if st.Rate > 0 {
			line += fmt.Sprintf(", %s/s", humanBytes(int64(st.Rate)))
		}
		if q.ETASeconds != nil {
			line += ", " + eta(*q.ETASeconds) + " left"
		}
		switch {
		case !st.WindowOpen:
			line += ", waiting for the upload window at " + st.NextWindow.Format("15:04")
		case !st.PausedUntil.IsZero():
			line += fmt.Sprintf(", retrying in %s (%s)", time.Until(st.PausedUntil).Round(time.Second), st.LastError)
		}
	}
	return line
}

func eta(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	if d < time.Minute {
		return d.String()
	}
	return d.Round(time.Minute).String()
}
