package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// The commands for agents' credentials (issue #5): enrollment codes, and listing and
// revoking enrolled agents.
func init() {
	registerCommand("enrollment create", "  aula-server enrollment create --tenant T --room NAME [--folder /A] [--ttl 24h]\n"+
		"                                                                 make a one-time code that enrolls one agent for the room, which records into\n"+
		"                                                                 the folder (default /; see room bind); prints the code once", runEnrollmentCreate)
	registerCommand("agent list", "  aula-server agent list --tenant T                              the tenant's enrolled agents", runAgentList)
	registerCommand("agent revoke", "  aula-server agent revoke --tenant T --client ID                 revoke an agent: no new token, and its tokens stop working", runAgentRevoke)
}

// openTenant opens the server's stores and finds the tenant by name.
func openTenant(ctx context.Context, cfg server.Config, name string) (*server.Server, store.Tenant, error) {
	srv, err := server.Open(ctx, cfg, nil)
	if err != nil {
		return nil, store.Tenant{}, err
	}
	t, err := srv.Meta.TenantByName(ctx, name)
	if err != nil {
		srv.Close()
		if errors.Is(err, store.ErrNotFound) {
			return nil, store.Tenant{}, fmt.Errorf("no tenant %q", name)
		}
		return nil, store.Tenant{}, err
	}
	return srv, t, nil
}

func runEnrollmentCreate(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "enrollment create")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	room := fs.String("room", "", "the room the agent records, such as \"Hall B\"")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the code may be used")
	folder := fs.String("folder", "/", "the folder `PATH` the room's agents record into (the room is bound to it)")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" || *room == "" || len(*room) > 200 {
		fmt.Fprintln(env.Stderr, "enrollment create needs --tenant NAME and --room NAME (at most 200 bytes).")
		return ErrUsage
	}
	if *ttl < time.Minute || *ttl > 30*24*time.Hour {
		fmt.Fprintln(env.Stderr, "--ttl must be between 1m and 720h.")
		return ErrUsage
	}
	srv, t, err := openTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	folderID, err := findFolder(ctx, srv, t, *folder)
	if err != nil {
		return err
	}
	if err := srv.Meta.BindRoom(ctx, t.ID, *room, folderID); err != nil {
		return err
	}
	code, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	now := time.Now()
	e, err := srv.Meta.CreateEnrollment(ctx, store.Enrollment{TenantID: t.ID, Room: *room, CodeHash: hash, CreatedAt: now, ExpiresAt: now.Add(*ttl)})
	if err != nil {
		return err
	}
	if _, err := srv.Meta.AppendAudit(ctx, store.AuditEvent{TenantID: t.ID, Action: "agent.enrollment_created", Actor: "cli",
		Detail: fmt.Sprintf("room %s, folder %s, enrollment %s, until %s", *room, *folder, e.ID, e.ExpiresAt.Format(time.RFC3339))}); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, code)
	fmt.Fprintf(env.Stderr, "Enrollment code for room %q of %q, valid once until %s; it is shown once.\n"+
		"On the room's PC: aula-agent enroll --server https://THIS-SERVER CODE\n", *room, *tenant, e.ExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

func runAgentList(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "agent list")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" {
		fmt.Fprintln(env.Stderr, "agent list needs --tenant NAME.")
		return ErrUsage
	}
	srv, t, err := openTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	clients, err := srv.Meta.OAuthClients(ctx, t.ID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tROOM\tENROLLED\tREVOKED")
	for _, c := range clients {
		revoked := "-"
		if c.RevokedAt != nil {
			revoked = c.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Room, c.CreatedAt.Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

func runAgentRevoke(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "agent revoke")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	id := fs.String("client", "", "the agent's client `ID` (see agent list)")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" || *id == "" {
		fmt.Fprintln(env.Stderr, "agent revoke needs --tenant NAME and --client ID.")
		return ErrUsage
	}
	srv, t, err := openTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Meta.RevokeOAuthClient(ctx, t.ID, *id, time.Now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("tenant %q has no agent %q: see aula-server agent list", *tenant, *id)
		}
		return err
	}
	if _, err := srv.Meta.AppendAudit(ctx, store.AuditEvent{TenantID: t.ID, Action: "agent.revoked", Actor: "cli", Detail: "client " + *id}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Agent %s is revoked: it gets no new token, and the tokens it holds stop working now.\n", *id)
	return nil
}
