package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// userCommands are the administrator's account commands: "aula-server user ACTION".
var userCommands = map[string]string{
	"create":          "make an account with a one-time password",
	"reset-password":  "give the account a new one-time password and sign it out everywhere",
	"force-reset":     "make the account change its password at the next sign-in, and sign it out",
	"lock":            "lock the account and sign it out everywhere",
	"unlock":          "unlock the account and forget its failed sign-ins",
	"revoke-sessions": "sign the account out everywhere",
	"remove-2fa":      "remove the account's authenticator and recovery codes (a lost phone)",
}

// runUser runs "aula-server user ACTION --email E [--tenant T]".
func runUser(ctx context.Context, env Env, action string, args []string) error {
	if _, ok := userCommands[action]; !ok {
		fmt.Fprintf(env.Stderr, "aula-server: unknown command \"user %s\"\n\n%s", action, usage)
		return ErrUsage
	}
	fs := newFlagSet(env, "user "+action)
	tenant := fs.String("tenant", "", "tenant `NAME` (needed when the e-mail has accounts in several; for create, made if new)")
	email := fs.String("email", "", "the account's e-mail `ADDRESS`")
	role := fs.String("role", store.RoleViewer, "for create: viewer, creator (granted on --folder) or admin (the tenant's administrator)")
	folder := fs.String("folder", "/", "for create: the folder `PATH` the viewer or creator role is granted on")
	reason := fs.String("reason", "", "for lock: why, for the audit log")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *email == "" || !strings.Contains(*email, "@") || (action == "create" && *tenant == "") {
		fmt.Fprintf(env.Stderr, "user %s needs --email ADDRESS%s.\n", action, map[bool]string{true: " and --tenant NAME"}[action == "create"])
		return ErrUsage
	}
	srv, err := server.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	acc := srv.Accounts()
	if action == "create" {
		if *role != store.RoleViewer && *role != store.RoleCreator && *role != store.RoleAdmin {
			fmt.Fprintln(env.Stderr, "--role must be viewer, creator or admin.")
			return ErrUsage
		}
		t, err := ensureTenant(ctx, srv, *tenant)
		if err != nil {
			return err
		}
		return createAccount(ctx, env, srv, cfg, t, *email, *role, *folder)
	}
	u, err := findUser(ctx, srv, *tenant, *email)
	if err != nil {
		return err
	}
	switch action {
	case "reset-password":
		pw, err := acc.ResetPassword(ctx, u.TenantID, u.ID, "cli")
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "email:    %s\npassword: %s\n", u.Email, pw)
		fmt.Fprintln(env.Stderr, "The password is shown once; it must be changed at the next sign-in. Every session of the account is signed out.")
	case "force-reset":
		err = acc.ForceReset(ctx, u.TenantID, u.ID, "cli")
		done(env, err, "%s must change the password at the next sign-in, and is signed out everywhere.", u.Email)
	case "lock":
		err = acc.Lock(ctx, u.TenantID, u.ID, "cli", *reason)
		done(env, err, "%s is locked and signed out everywhere.", u.Email)
	case "unlock":
		err = acc.Unlock(ctx, u.TenantID, u.ID, "cli")
		done(env, err, "%s is unlocked.", u.Email)
	case "revoke-sessions":
		var n int
		n, err = acc.RevokeSessions(ctx, u.TenantID, u.ID, "cli", "")
		done(env, err, "%s is signed out of %d sessions.", u.Email, n)
	case "remove-2fa":
		err = acc.RemoveTOTP(ctx, u.TenantID, u.ID, "cli")
		done(env, err, "%s's authenticator and recovery codes are removed; the next sign-in sets them up again where required.", u.Email)
	}
	return err
}

func done(env Env, err error, format string, args ...any) {
	if err == nil {
		fmt.Fprintf(env.Stderr, format+"\n", args...)
	}
}

// createAccount makes an account with a one-time password that must be changed at the
// first sign-in, and prints the password once.
func createAccount(ctx context.Context, env Env, srv *server.Server, cfg server.Config, t store.Tenant, email, role, folder string) error {
	folderID := ""
	if role != store.RoleAdmin {
		var err error
		if folderID, err = findFolder(ctx, srv, t, folder); err != nil {
			return err
		}
	}
	password, err := auth.NewPassword()
	if err != nil {
		return err
	}
	hash, err := auth.HashPasswordWith(cfg.PasswordParams(), password)
	if err != nil {
		return err
	}
	u, err := srv.Meta.CreateUser(ctx, store.User{TenantID: t.ID, Email: email, PasswordHash: hash, Role: role, MustChangePassword: true})
	if err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%s already has an account in tenant %q", email, t.Name)
		}
		return err
	}
	_ = srv.Accounts().Audit(ctx, t.ID, "account.created", "cli", u.ID, "", "role "+role)
	if folderID != "" {
		// The account's role is a grant on the folder (the root by default).
		if err := addGrant(ctx, srv, store.Grant{TenantID: t.ID, FolderID: folderID, UserID: u.ID, Role: role, CreatedBy: "cli"}, folder, email); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stdout, "tenant:   %s\nemail:    %s\npassword: %s\n", t.Name, email, password)
	fmt.Fprintln(env.Stderr, "The password is shown once; it must be changed at the first sign-in.")
	return nil
}

// runTenantPolicy shows a tenant's security policy and changes the settings given.
func runTenantPolicy(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "tenant policy")
	tenant := fs.String("tenant", "", "the tenant `NAME`")
	require2FA := fs.String("require-2fa", "", "true: every user must set up two-factor sign-in (administrators always must); false: only administrators")
	idle := fs.Duration("idle", -1, "sessions end after this long unused (0: the default, 30m)")
	absolute := fs.Duration("absolute", -1, "sessions end this long after sign-in (0: the default, 12h)")
	maxAge := fs.Duration("password-max-age", -1, "passwords older than this must be changed (0: never, the default)")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" || (*require2FA != "" && *require2FA != "true" && *require2FA != "false") {
		fmt.Fprintln(env.Stderr, "tenant policy needs --tenant NAME; --require-2fa takes true or false.")
		return ErrUsage
	}
	for name, d := range map[string]time.Duration{"--idle": *idle, "--absolute": *absolute, "--password-max-age": *maxAge} {
		if d < -1 || d > 10*366*24*time.Hour || (d > 0 && d < time.Minute) {
			fmt.Fprintf(env.Stderr, "%s must be 0 (the default) or between 1m and 10 years.\n", name)
			return ErrUsage
		}
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
	p, err := srv.Meta.TenantPolicy(ctx, t.ID)
	if err != nil {
		return err
	}
	changed := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "require-2fa":
			p.Require2FA, changed = *require2FA == "true", true
		case "idle":
			p.IdleTimeout, changed = *idle, true
		case "absolute":
			p.AbsoluteTimeout, changed = *absolute, true
		case "password-max-age":
			p.PasswordMaxAge, changed = *maxAge, true
		}
	})
	if changed {
		if p.IdleTimeout > 0 && p.AbsoluteTimeout > 0 && p.IdleTimeout > p.AbsoluteTimeout {
			return fmt.Errorf("the idle timeout (%s) may not exceed the absolute one (%s)", p.IdleTimeout, p.AbsoluteTimeout)
		}
		if err := srv.Meta.SetTenantPolicy(ctx, p); err != nil {
			return err
		}
		detail := fmt.Sprintf("require_2fa=%v idle=%s absolute=%s password_max_age=%s", p.Require2FA, p.IdleTimeout, p.AbsoluteTimeout, p.PasswordMaxAge)
		if err := srv.Accounts().Audit(ctx, t.ID, "policy.changed", "cli", "", "", detail); err != nil {
			return err
		}
	}
	orDefault := func(d time.Duration, def string) string {
		if d == 0 {
			return def
		}
		return d.String()
	}
	fmt.Fprintf(env.Stdout, "tenant:           %s\nrequire_2fa:      %v (administrators always)\nidle_timeout:     %s\nabsolute_timeout: %s\npassword_max_age: %s\n",
		t.Name, p.Require2FA, orDefault(p.IdleTimeout, "30m0s (default)"), orDefault(p.AbsoluteTimeout, "12h0m0s (default)"), orDefault(p.PasswordMaxAge, "never (default)"))
	return nil
}

// runAudit prints a tenant's newest audit events, one a line.
func runAudit(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "audit list")
	tenant := fs.String("tenant", "", "the tenant `NAME`")
	limit := fs.Int("limit", 50, "how many events, newest first")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" || *limit < 1 || *limit > 10000 {
		fmt.Fprintln(env.Stderr, "audit list needs --tenant NAME; --limit is 1 to 10000.")
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
	events, err := srv.Meta.AuditEvents(ctx, t.ID, *limit)
	if err != nil {
		return err
	}
	for _, e := range events {
		fmt.Fprintf(env.Stdout, "%s %-26s actor=%q user=%s ip=%s %s\n", e.At.Format(time.RFC3339), e.Action, e.Actor, e.UserID, e.IP, e.Detail)
	}
	return nil
}
