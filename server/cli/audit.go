package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/audit"
	"github.com/aulacapture/aula/server/store"
)

// The audit log's commands (issue 6, SECURITY §20): verify the chains, export them.
func init() {
	registerCommand("audit verify", "  aula-server audit verify [--tenant T]                           check that no audit event was edited, removed, inserted or reordered", runAuditVerify)
	registerCommand("audit export", "  aula-server audit export --tenant T [--since 2026-11-01T00:00:00Z]\n"+
		"                                                                 write the tenant's audit events as JSON lines", runAuditExport)
}

// errChainDamaged is the outcome of a verification that found damage; the details were
// printed.
var errChainDamaged = errors.New("the audit log was tampered with (see above)")

func runAuditVerify(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "audit verify")
	tenant := fs.String("tenant", "", "only this tenant `NAME` (all tenants without it)")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	srv, err := server.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	var tenants []store.Tenant
	if *tenant != "" {
		t, err := srv.Meta.TenantByName(ctx, *tenant)
		if err != nil {
			return fmt.Errorf("no tenant %q", *tenant)
		}
		tenants = []store.Tenant{t}
	} else if tenants, err = srv.Meta.AuditTenants(ctx); err != nil {
		return err
	}
	mac := audit.MAC(srv.Master.DeriveKey(audit.KeyPurpose))
	damaged := 0
	for _, t := range tenants {
		rep, err := audit.Verify(ctx, srv.Meta, t.ID, mac)
		if err != nil {
			return fmt.Errorf("verify tenant %q: %w", t.Name, err)
		}
		if !rep.OK() {
			damaged++
			fmt.Fprintf(env.Stdout, "tenant %q: DAMAGED: %s\n", t.Name, rep.Problem.Message)
			continue
		}
		fmt.Fprintf(env.Stdout, "tenant %q: %d events, chain intact", t.Name, rep.Events-rep.Unchained)
		if rep.Unchained > 0 {
			fmt.Fprintf(env.Stdout, "; %d older events are chained at the next event", rep.Unchained)
		}
		fmt.Fprintln(env.Stdout, ".")
	}
	if damaged > 0 {
		return errChainDamaged
	}
	return nil
}

func runAuditExport(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "audit export")
	tenant := fs.String("tenant", "", "the tenant `NAME`")
	since := fs.String("since", "", "only events at or after this `TIME` (RFC 3339, such as 2026-11-01T00:00:00Z)")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	var from time.Time
	if *since != "" {
		if from, err = time.Parse(time.RFC3339, *since); err != nil {
			fmt.Fprintf(env.Stderr, "--since %q is not an RFC 3339 time such as 2026-11-01T00:00:00Z.\n", *since)
			return ErrUsage
		}
	}
	if *tenant == "" {
		fmt.Fprintln(env.Stderr, "audit export needs --tenant NAME.")
		return ErrUsage
	}
	srv, t, err := openTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	n, err := audit.Export(ctx, srv.Meta, t.ID, from, env.Stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%d audit events of %q exported.\n", n, *tenant)
	return nil
}
