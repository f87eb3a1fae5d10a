package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/sso"
	"github.com/aulacapture/aula/server/store"
)

func init() {
	registerCommand("sso set", `  aula-server sso set --tenant T --issuer URL --client-id ID [--scopes "openid email profile groups"] [--group-claim groups] [--email-domain D] [--no-check]
                                                                 set a tenant's OpenID Connect provider; the client secret comes from AULA_SSO_CLIENT_SECRET or --client-secret-file`, runSSOSet)
	registerCommand("sso show", `  aula-server sso show --tenant T                                show a tenant's OpenID Connect provider`, runSSOShow)
	registerCommand("sso remove", `  aula-server sso remove --tenant T                              turn single sign-on off for a tenant`, runSSORemove)
	registerCommand("sso link", `  aula-server sso link --tenant T --email E --issuer URL --subject S
                                                                 link an existing account to a provider's subject (never done by e-mail)`, runSSOLink)
	registerCommand("group list", `  aula-server group list --tenant T [--email E]                  a tenant's groups and members, or one user's groups`, runGroupList)
}

// ssoTenant opens the server's stores and finds the tenant by name.
func ssoTenant(ctx context.Context, cfg server.Config, name string) (*server.Server, store.Tenant, error) {
	srv, err := server.Open(ctx, cfg, nil)
	if err != nil {
		return nil, store.Tenant{}, err
	}
	t, err := srv.Meta.TenantByName(ctx, name)
	if err != nil {
		srv.Close()
		return nil, store.Tenant{}, fmt.Errorf("no tenant %q", name)
	}
	return srv, t, nil
}

func runSSOSet(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "sso set")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	issuer := fs.String("issuer", "", "the provider's issuer `URL`")
	clientID := fs.String("client-id", "", "Aula's client `ID` at the provider")
	secretFile := fs.String("client-secret-file", "", "`FILE` holding the client secret (else AULA_SSO_CLIENT_SECRET; neither keeps the stored one)")
	scopes := fs.String("scopes", "", "scopes to request, separated by spaces (default openid email profile; add the one your provider gives groups with, often groups)")
	groupClaim := fs.String("group-claim", "", "the claim that lists the user's groups (empty: no group mapping)")
	domain := fs.String("email-domain", "", "e-mail `DOMAIN` whose people the sign-in page sends to this provider")
	noCheck := fs.Bool("no-check", false, "store without reading the provider's discovery document first")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" || *issuer == "" || *clientID == "" {
		fmt.Fprintln(env.Stderr, "sso set needs --tenant NAME, --issuer URL and --client-id ID.")
		return ErrUsage
	}
	secret := env.Getenv("AULA_SSO_CLIENT_SECRET")
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("read client secret: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	srv, t, err := ssoTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	c, err := srv.NewSSO().Configure(ctx, t.ID, sso.Config{Issuer: *issuer, ClientID: *clientID, ClientSecret: secret,
		Scopes: strings.Fields(*scopes), GroupClaim: *groupClaim, EmailDomain: *domain}, !*noCheck, "cli")
	if err != nil {
		return err
	}
	printSSO(env, c)
	fmt.Fprintf(env.Stderr, "Single sign-on is set for %q. Register https://HOST:PORT%s at the provider for each of the server's hosts.\n", *tenant, server.SSOCallbackPath)
	return nil
}

func printSSO(env Env, c sso.Config) {
	fmt.Fprintf(env.Stdout, "issuer:       %s\nclient id:    %s\nscopes:       %s\ngroup claim:  %s\ne-mail domain: %s\n",
		c.Issuer, c.ClientID, strings.Join(c.Scopes, " "), c.GroupClaim, c.EmailDomain)
}

func runSSOShow(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "sso show")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" {
		fmt.Fprintln(env.Stderr, "sso show needs --tenant NAME.")
		return ErrUsage
	}
	srv, t, err := ssoTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	c, err := srv.NewSSO().Config(ctx, t.ID)
	if errors.Is(err, sso.ErrNotConfigured) {
		return fmt.Errorf("tenant %q has no single sign-on", *tenant)
	}
	if err != nil {
		return err
	}
	printSSO(env, c)
	return nil
}

func runSSORemove(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "sso remove")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" {
		fmt.Fprintln(env.Stderr, "sso remove needs --tenant NAME.")
		return ErrUsage
	}
	srv, t, err := ssoTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.NewSSO().Remove(ctx, t.ID, "cli"); err != nil {
		if errors.Is(err, sso.ErrNotConfigured) {
			return fmt.Errorf("tenant %q has no single sign-on", *tenant)
		}
		return err
	}
	fmt.Fprintf(env.Stderr, "Single sign-on is off for %q; its accounts stay, without passwords.\n", *tenant)
	return nil
}

func runSSOLink(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "sso link")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	email := fs.String("email", "", "the existing account's e-mail `ADDRESS`")
	issuer := fs.String("issuer", "", "the provider's issuer `URL`, as configured")
	subject := fs.String("subject", "", "the person's subject (sub claim) at the provider")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" || *email == "" || *issuer == "" || *subject == "" {
		fmt.Fprintln(env.Stderr, "sso link needs --tenant NAME, --email ADDRESS, --issuer URL and --subject SUB.")
		return ErrUsage
	}
	srv, t, err := ssoTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	u, err := srv.Meta.UserByEmail(ctx, t.ID, *email)
	if err != nil {
		return fmt.Errorf("no account %s in tenant %q", *email, *tenant)
	}
	if _, err := srv.Meta.LinkSSOIdentity(ctx, store.SSOIdentity{TenantID: t.ID, Issuer: *issuer, Subject: *subject, UserID: u.ID}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("that subject, or %s, is linked already", *email)
		}
		return err
	}
	_ = srv.Accounts().Audit(ctx, t.ID, "sso.linked", "cli", u.ID, "", fmt.Sprintf("%s subject %s", *issuer, *subject))
	fmt.Fprintf(env.Stderr, "%s now signs in as subject %q of %s.\n", *email, *subject, *issuer)
	return nil
}

func runGroupList(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "group list")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	email := fs.String("email", "", "only this account's groups")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" {
		fmt.Fprintln(env.Stderr, "group list needs --tenant NAME.")
		return ErrUsage
	}
	srv, t, err := ssoTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	if *email != "" {
		u, err := srv.Meta.UserByEmail(ctx, t.ID, *email)
		if err != nil {
			return fmt.Errorf("no account %s in tenant %q", *email, *tenant)
		}
		groups, err := srv.Meta.UserGroups(ctx, t.ID, u.ID)
		if err != nil {
			return err
		}
		for _, g := range groups {
			fmt.Fprintf(env.Stdout, "%s\t%s\n", g.Name, g.Source)
		}
		return nil
	}
	groups, err := srv.Meta.ListGroups(ctx, t.ID)
	if err != nil {
		return err
	}
	for _, g := range groups {
		members, err := srv.Meta.GroupMembers(ctx, t.ID, g.ID)
		if err != nil {
			return err
		}
		emails := make([]string, len(members))
		for i, m := range members {
			emails[i] = m.Email
		}
		fmt.Fprintf(env.Stdout, "%s\t%s\t%s\n", g.Name, g.Source, strings.Join(emails, ","))
	}
	return nil
}
