package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aulacapture/aula/agent/spool"
	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
)

func runUpload(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "upload", "upload --wait --server URL [--server-ca FILE] [--data DIR]   (the spool)\n       aula-agent upload --server URL [--server-ca FILE] [--follow] DIR   (a folder recorded with --out)")
	var sf serverFlags
	sf.register(fs, env, false)
	wait := fs.Bool("wait", false, "upload everything in the agent's spool and exit 0 only when all of it is on the server")
	follow := fs.Bool("follow", false, "with DIR: keep uploading while the recording in DIR is still being made, until it is finished and complete on the server")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return ErrUsage
	}
	server, parallel := &sf.server, &sf.parallel
	if *wait && fs.NArg() == 0 {
		return drainSpool(ctx, env, &sf)
	}
	if fs.NArg() != 1 || *server == "" {
		fmt.Fprintln(env.Stderr, "upload needs --server URL and either --wait (the spool) or one recording folder.")
		fs.Usage()
		return ErrUsage
	}
	c, err := sf.client(env, "upload")
	if err != nil {
		return err
	}
	dir := fs.Arg(0)
	progress := func(done, total int64) {
		pct := 100.0
		if total > 0 {
			pct = float64(done) * 100 / float64(total)
		}
		line := fmt.Sprintf("uploaded %s of %s (%.0f%%) %s", humanBytes(done), humanBytes(total), pct, bar(pct, 30))
		if env.Interactive {
			fmt.Fprintf(env.Stderr, "\r\033[K%s", line)
		}
	}
	for {
		m, err := upload.Dir(ctx, c, dir, *parallel, progress)
		if env.Interactive {
			fmt.Fprintln(env.Stderr)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !*follow {
				return fmt.Errorf("upload %s: %w", dir, err)
			}
			if !errors.Is(err, upload.ErrNoManifest) { // the first segment is not done yet
				fmt.Fprintf(env.Stderr, "upload %s: %v; trying again\n", dir, err)
			}
		} else {
			segments := 0
			for _, t := range m.Tracks {
				segments += len(t.Segments)
			}
			fmt.Fprintf(env.Stderr, "%s: %d segments on the server, state %s\n", filepath.Base(dir), segments, m.State)
			if m.State == manifest.StateUploadFinished || !*follow {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// drainSpool uploads everything in the spool and completes its recordings.
func drainSpool(ctx context.Context, env Env, sf *serverFlags) error {
	c, err := sf.client(env, "upload --wait")
	if err != nil {
		return err
	}
	log := newLogger(env.Stderr, false)
	dir := sf.spoolDir(env)
	sp, err := spool.Open(dir, &spool.Options{Log: log})
	if err != nil {
		return spoolError(dir, err)
	}
	defer sp.Close()
	// Make sure of the server (its certificate, the token, the tenant's key) even when
	// there is nothing to send.
	fresh, err := c.Recipient(ctx)
	if err != nil {
		return uploadError(err)
	}
	if pinned, _ := sp.Setting(settingRecipient); pinned != nil && string(pinned) != fresh.String() {
		fmt.Fprintln(env.Stderr, "Warning: the server gives another tenant key than the one this spool was sealed to; its segments will be refused unless the server still holds the old key.")
	}
	u := sf.uploader(sp, c, log)
	upCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	serveControl(upCtx, sf.dataDir(env), sp, u, log)
	done := make(chan error, 1)
	go func() { done <- u.Drain(upCtx) }()
	sigs := make(chan os.Signal, 1)
	go func() {
		<-ctx.Done()
		sigs <- os.Interrupt
	}()
	if err := waitUploads(env, sp, u, done, sigs, stop, sf.patience); err != nil {
		return err
	}
	q, err := queueStatus(sp, nil)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range q.Recordings {
		if r.State == "uploaded" {
			n++
		}
	}
	fmt.Fprintf(env.Stderr, "Everything is on the server (%d recordings uploaded).\n", n)
	return nil
}

// bar draws a progress bar of width cells for pct percent.
func bar(pct float64, width int) string {
	n := int(pct / 100 * float64(width))
	n = max(0, min(n, width))
	b := make([]byte, 0, width+2)
	b = append(b, '[')
	for i := range width {
		if i < n {
			b = append(b, '#')
		} else {
			b = append(b, '.')
		}
	}
	return string(append(b, ']'))
}
