// Package cli is aula-agent's command line: it parses subcommands and flags, runs the
// agent's parts and turns their errors into one plain sentence for the person at the
// terminal.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aulacapture/aula/encoder"
)

// Env is what the command line runs in; tests fill it with buffers.
type Env struct {
	Args   []string // without the program name
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Interactive reports whether Stdin and Stderr are a terminal (status line with \r,
	// keys for pause and resume).
	Interactive bool
}

// ErrUsage reports a command line that could not be parsed; the message was printed.
var ErrUsage = errors.New("usage error")

const usage = `aula-agent records lectures: screen, camera and microphone into CMAF segments.

Usage:
  aula-agent devices [--json]          list screens, cameras and microphones
  aula-agent record [flags]            record until Ctrl-C or --duration; with --server URL it
                                       seals into the spool and uploads while it records
  aula-agent queue [--json]            show the spool: each recording, segments waiting and acked
  aula-agent upload --wait             upload everything in the spool; exit 0 once all is on the server
  aula-agent upload --server URL DIR   seal and upload a folder recorded with --out (--follow: while it records)
  aula-agent export --recovery-key FILE OUTDIR
                                       decrypt the spool with the admin's recovery key
  aula-agent recovery-key new FILE     make a recovery key; prints the recipient for --recovery-recipient
  aula-agent enroll --server URL CODE  trade an administrator's enrollment code for this room PC's credential
  aula-agent login --server URL [--device]
                                       sign in as yourself (browser on this PC, or a code with --device)
  aula-agent logout                    end this PC's sign-in and forget its credential
  aula-agent version                   print the version

Run 'aula-agent COMMAND --help' for a command's flags.
`

// Run runs one command and returns its error; the caller prints nothing more than
// Message(err).
func Run(ctx context.Context, env Env) error {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if len(env.Args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ErrUsage
	}
	cmd, args := env.Args[0], env.Args[1:]
	// FFmpeg's own lines would only repeat, less clearly, the sentences we print;
	// --verbose turns them back on.
	encoder.LogTo(slog.New(slog.DiscardHandler))
	switch cmd {
	case "devices":
		return runDevices(ctx, env, args)
	case "record":
		return runRecord(ctx, env, args)
	case "upload":
		return runUpload(ctx, env, args)
	case "queue":
		return runQueue(ctx, env, args)
	case "export":
		return runExport(ctx, env, args)
	case "recovery-key":
		return runRecoveryKey(env, args)
	case "enroll":
		return runEnroll(ctx, env, args)
	case "login":
		return runLogin(ctx, env, args)
	case "logout":
		return runLogout(ctx, env, args)
	case "version":
		fmt.Fprintln(env.Stdout, "aula-agent", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fmt.Fprintf(env.Stderr, "aula-agent: unknown command %q\n\n%s", cmd, usage)
	return ErrUsage
}

// Version is the agent's version, set at build time with -ldflags.
var Version = "dev"

// newFlagSet makes a flag set that prints its usage to env.Stderr.
func newFlagSet(env Env, name, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("aula-agent "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: aula-agent %s\n\nFlags:\n", summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, mapping -h and bad flags to ErrUsage (the flag package printed why).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return ErrUsage
	}
	return nil
}

var errHelp = errors.New("help shown")

// Message gives the one line to print for err, or "" when nothing more should be said.
func Message(err error) string {
	if err == nil || errors.Is(err, ErrUsage) || errors.Is(err, errHelp) || errors.Is(err, context.Canceled) {
		return ""
	}
	msg := err.Error()
	return "aula-agent: " + strings.ToUpper(msg[:1]) + msg[1:]
}

// ExitCode is the process exit code for err.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, errHelp), errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	return 1
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
