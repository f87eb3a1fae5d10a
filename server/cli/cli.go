// Package cli is aula-server's command line: serve, and the admin commands that make
// tenants, accounts and API tokens. Errors come back as one plain sentence.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// Env is what the command line runs in; tests fill it with buffers.
type Env struct {
	Args   []string
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Ready, if set, is called with the HTTPS address once serve listens.
	Ready func(addr string)
}

// ErrUsage reports a command line that could not be parsed; the reason was printed.
var ErrUsage = errors.New("usage error")

var errHelp = errors.New("help shown")

const usage = `aula-server stores and plays Aula recordings.

Usage:
  aula-server serve [--data DIR] [--listen HOST:PORT] [flags]   serve HTTPS until Ctrl-C
  aula-server admin create --tenant T --email E [--data DIR]     make a tenant (if new) and an administrator; prints a one-time password
  aula-server token create --email E --scope ingest|view|admin [--tenant T] [--ttl 720h] [--data DIR]
                                                                 make an API token; prints it once
  aula-server tenant shred --tenant T --yes                      delete a tenant's key: all its media becomes unreadable, for good
  aula-server tenant policy --tenant T [--require-2fa true|false] [--idle 30m] [--absolute 12h] [--password-max-age 0]
                                                                 show or change a tenant's sign-in policy
  aula-server user create --tenant T --email E [--role viewer|creator|admin]
                                                                 make an account; prints a one-time password
  aula-server user reset-password|force-reset|lock|unlock|revoke-sessions|remove-2fa --email E [--tenant T]
                                                                 an administrator's changes to an account (audited)
  aula-server audit list --tenant T [--limit 50]                 the tenant's newest audit events

Every command takes the configuration flags of serve (and --config FILE); the
environment variables AULA_* set them too.
`

// commands are the two-word commands that features register from their own files (in
// init), with the lines they add to the usage.
var (
	commands     = map[string]func(ctx context.Context, env Env, args []string) error{}
	commandUsage []string
)

// registerCommand adds "NOUN VERB" with its usage line.
//
//lint:ignore U1000 feature files (SSO, OAuth) register their commands with it
func registerCommand(name, usageLine string, run func(ctx context.Context, env Env, args []string) error) {
	if _, dup := commands[name]; dup {
		panic("cli: command " + name + " registered twice")
	}
	commands[name] = run
	commandUsage = append(commandUsage, usageLine)
}

// fullUsage is the usage with the registered commands' lines.
func fullUsage() string {
	if len(commandUsage) == 0 {
		return usage
	}
	lines := append([]string(nil), commandUsage...)
	sort.Strings(lines)
	return usage + "\nMore commands:\n" + strings.Join(lines, "\n") + "\n"
}

// Run runs one command.
func Run(ctx context.Context, env Env) error {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if len(env.Args) == 0 {
		fmt.Fprint(env.Stderr, fullUsage())
		return ErrUsage
	}
	switch strings.Join(env.Args[:min(2, len(env.Args))], " ") {
	case "admin create":
		return runAdminCreate(ctx, env, env.Args[2:])
	case "token create":
		return runTokenCreate(ctx, env, env.Args[2:])
	case "tenant shred":
		return runTenantShred(ctx, env, env.Args[2:])
	case "tenant policy":
		return runTenantPolicy(ctx, env, env.Args[2:])
	case "audit list":
		return runAudit(ctx, env, env.Args[2:])
	}
	if len(env.Args) >= 2 {
		if run, ok := commands[env.Args[0]+" "+env.Args[1]]; ok {
			return run(ctx, env, env.Args[2:])
		}
	}
	if env.Args[0] == "user" && len(env.Args) >= 2 {
		return runUser(ctx, env, env.Args[1], env.Args[2:])
	}
	switch env.Args[0] {
	case "serve":
		return runServe(ctx, env, env.Args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, fullUsage())
		return nil
	}
	fmt.Fprintf(env.Stderr, "aula-server: unknown command %q\n\n%s", strings.Join(env.Args, " "), fullUsage())
	return ErrUsage
}

// config parses the shared configuration: defaults < --config file < environment <
// flags. The command's own flags must be defined on fs before.
func config(env Env, fs *flag.FlagSet, args []string) (server.Config, error) {
	var scratch server.Config
	scratch.BindFlags(fs)
	cfgFile := fs.String("config", "", "JSON configuration `FILE`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return scratch, errHelp
		}
		return scratch, ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "unexpected argument %q\n", fs.Arg(0))
		return scratch, ErrUsage
	}
	cfg := server.Default()
	if *cfgFile != "" {
		if err := cfg.LoadFile(*cfgFile); err != nil {
			return cfg, err
		}
	}
	if err := cfg.LoadEnv(env.Getenv); err != nil {
		return cfg, err
	}
	bound := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.BindFlags(bound)
	var err error
	fs.Visit(func(f *flag.Flag) {
		if bound.Lookup(f.Name) != nil && err == nil {
			err = bound.Set(f.Name, f.Value.String())
		}
	})
	if err != nil {
		return cfg, fmt.Errorf("%w: %w", server.ErrConfig, err)
	}
	return cfg, cfg.Validate()
}

func newFlagSet(env Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("aula-server "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func logger(w io.Writer, format string) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

func runServe(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "serve")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	log := logger(env.Stderr, cfg.LogFormat)
	srv, err := server.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	return srv.Serve(ctx, env.Ready)
}

func runAdminCreate(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "admin create")
	tenant := fs.String("tenant", "", "tenant `NAME` (made if it does not exist)")
	email := fs.String("email", "", "the administrator's e-mail `ADDRESS`")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" || *email == "" || !strings.Contains(*email, "@") {
		fmt.Fprintln(env.Stderr, "admin create needs --tenant NAME and --email ADDRESS.")
		return ErrUsage
	}
	srv, err := server.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	t, err := ensureTenant(ctx, srv, *tenant)
	if err != nil {
		return err
	}
	return createAccount(ctx, env, srv, cfg, t, *email, store.RoleAdmin, "")
}

func ensureTenant(ctx context.Context, srv *server.Server, name string) (store.Tenant, error) {
	t, err := srv.Meta.TenantByName(ctx, name)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return t, err
	}
	recipient, wrapped, err := srv.Master.NewTenantKey()
	if err != nil {
		return t, err
	}
	return srv.Meta.CreateTenant(ctx, store.Tenant{Name: name, Recipient: recipient, WrappedIdentity: wrapped})
}

func runTokenCreate(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "token create")
	tenant := fs.String("tenant", "", "tenant `NAME` (needed when the e-mail has accounts in several)")
	email := fs.String("email", "", "whose token: the account's e-mail `ADDRESS`")
	scope := fs.String("scope", "", "what it may do: ingest, view or admin")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "how long the token lives")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *email == "" || (*scope != auth.ScopeIngest && *scope != auth.ScopeView && *scope != auth.ScopeAdmin) {
		fmt.Fprintln(env.Stderr, "token create needs --email ADDRESS and --scope ingest, view or admin.")
		return ErrUsage
	}
	if *ttl <= 0 || *ttl > 366*24*time.Hour {
		fmt.Fprintln(env.Stderr, "--ttl must be positive and at most a year.")
		return ErrUsage
	}
	srv, err := server.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	user, err := findUser(ctx, srv, *tenant, *email)
	if err != nil {
		return err
	}
	token, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	now := time.Now()
	if _, err := srv.Meta.CreateToken(ctx, store.Token{TenantID: user.TenantID, UserID: user.ID, Hash: hash, Scope: *scope, CreatedAt: now, ExpiresAt: now.Add(*ttl)}); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, token)
	fmt.Fprintf(env.Stderr, "Token for %s (%s scope) valid until %s; it is shown once.\n", *email, *scope, now.Add(*ttl).UTC().Format(time.RFC3339))
	return nil
}

// runTenantShred deletes a tenant's wrapped key (crypto-shredding). Every copy of the
// tenant's media, backups included, was sealed to that key and cannot be opened again.
// Running servers hold unwrapped keys in memory until they restart.
func runTenantShred(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "tenant shred")
	tenant := fs.String("tenant", "", "the tenant `NAME`")
	yes := fs.Bool("yes", false, "confirm: this cannot be undone")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" || !*yes {
		fmt.Fprintln(env.Stderr, "tenant shred needs --tenant NAME and --yes: it makes the tenant's media unreadable for good.")
		return ErrUsage
	}
	srv, err := server.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	t, err := srv.Meta.TenantByName(ctx, *tenant)
	if err != nil {
		return fmt.Errorf("no tenant %q", *tenant)
	}
	if err := srv.Meta.DeleteTenantIdentity(ctx, t.ID); err != nil {
		return err
	}
	srv.Keys.Forget(t.ID)
	fmt.Fprintf(env.Stderr, "Tenant %q's key is deleted: its recordings can no longer be played or exported. Restart running servers so they drop the key from memory.\n", *tenant)
	return nil
}

func findUser(ctx context.Context, srv *server.Server, tenant, email string) (store.User, error) {
	if tenant != "" {
		t, err := srv.Meta.TenantByName(ctx, tenant)
		if err != nil {
			return store.User{}, fmt.Errorf("no tenant %q", tenant)
		}
		u, err := srv.Meta.UserByEmail(ctx, t.ID, email)
		if err != nil {
			return store.User{}, fmt.Errorf("no account %s in tenant %q", email, tenant)
		}
		return u, nil
	}
	users, err := srv.Meta.UsersByEmail(ctx, email)
	if err != nil {
		return store.User{}, err
	}
	switch len(users) {
	case 0:
		return store.User{}, fmt.Errorf("no account %s: make one with aula-server admin create", email)
	case 1:
		return users[0], nil
	}
	return store.User{}, fmt.Errorf("%s has accounts in %d tenants: name one with --tenant", email, len(users))
}

// Message gives the one line to print for err ("" when nothing more should be said).
func Message(err error) string {
	if err == nil || errors.Is(err, ErrUsage) || errors.Is(err, errHelp) || errors.Is(err, context.Canceled) {
		return ""
	}
	return "aula-server: " + err.Error()
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
