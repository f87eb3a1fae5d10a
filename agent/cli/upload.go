package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
)

func runUpload(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "upload", "upload --server URL [--token T] [--server-ca FILE] [--follow] DIR")
	server := fs.String("server", "", "the Aula server, such as https://aula.example.edu or https://127.0.0.1:8443")
	token := fs.String("token", "", "API token with the ingest scope (default $AULA_TOKEN; prefer the variable, which stays out of process lists)")
	ca := fs.String("server-ca", "", "trust this PEM certificate too, such as the server's self-signed DATA/tls/cert.pem")
	follow := fs.Bool("follow", false, "keep uploading while the recording in DIR is still being made, until it is finished and complete on the server")
	parallel := fs.Int("parallel", 4, "segments uploaded at once")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return ErrUsage
	}
	if fs.NArg() != 1 || *server == "" {
		fmt.Fprintln(env.Stderr, "upload needs --server URL and one recording folder.")
		fs.Usage()
		return ErrUsage
	}
	if *token == "" {
		*token = env.Getenv("AULA_TOKEN")
	}
	if *token == "" {
		fmt.Fprintln(env.Stderr, "upload needs an API token: set AULA_TOKEN or pass --token.")
		return ErrUsage
	}
	dir := fs.Arg(0)
	c, err := upload.NewClient(*server, *token, *ca)
	if err != nil {
		return err
	}
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
