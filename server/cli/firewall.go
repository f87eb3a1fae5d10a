package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/aulacapture/aula/server/firewall"
)

// The firewall's commands (issue 6): show a tenant's rules, and set them from the
// server's machine, the break-glass for an administrator who locked themselves out.
func init() {
	registerCommand("firewall show", "  aula-server firewall show --tenant T                            the tenant's firewall rules", runFirewallShow)
	registerCommand("firewall set", "  aula-server firewall set --tenant T [--allow CIDR,…|none] [--countries allow:DE,FR|deny:RU|none] [--off]\n"+
		"                                                                 change the rules (the others stay); turns the firewall on unless --off;\n"+
		"                                                                 never refused for locking anyone out", runFirewallSet)
}

func runFirewallShow(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "firewall show")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" {
		fmt.Fprintln(env.Stderr, "firewall show needs --tenant NAME.")
		return ErrUsage
	}
	srv, t, err := openTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	fw := srv.Firewall()
	rules, err := fw.Rules(ctx, t.ID)
	if err != nil {
		return err
	}
	printRules(env, rules, fw.CountriesEnforced())
	return nil
}

func printRules(env Env, r firewall.Rules, countriesEnforced bool) {
	state := "off"
	if r.Enabled {
		state = "on"
	}
	fmt.Fprintf(env.Stdout, "firewall: %s\n", state)
	fmt.Fprintf(env.Stdout, "ranges: %s\n", orNone(strings.ReplaceAll(firewall.FormatRanges(r.Ranges), "\n", " ")))
	countries := "none"
	if r.CountryMode != "" {
		countries = r.CountryMode + ":" + strings.Join(r.Countries, ",")
		if !countriesEnforced {
			countries += " (not enforced: no GeoIP database configured)"
		}
	}
	fmt.Fprintf(env.Stdout, "countries: %s\n", countries)
	fmt.Fprintf(env.Stdout, "exceptions: %s\n", orNone(strings.ReplaceAll(firewall.FormatExceptions(r.Exceptions), "\n", "; ")))
	if r.UpdatedBy != "" {
		fmt.Fprintf(env.Stdout, "changed: %s by %s\n", r.UpdatedAt.Format(time.RFC3339), r.UpdatedBy)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func runFirewallSet(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "firewall set")
	tenant := fs.String("tenant", "", "tenant `NAME`")
	allow := fs.String("allow", "", "the allowed `RANGES`, CIDR, comma-separated; none for no range rule")
	countries := fs.String("countries", "", "the country `RULE`: allow:DE,FR, deny:RU or none")
	off := fs.Bool("off", false, "turn the firewall off (the rules are kept)")
	cfg, err := config(env, fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" {
		fmt.Fprintln(env.Stderr, "firewall set needs --tenant NAME.")
		return ErrUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	srv, t, err := openTenant(ctx, cfg, *tenant)
	if err != nil {
		return err
	}
	defer srv.Close()
	fw := srv.Firewall()
	rules, err := fw.Rules(ctx, t.ID)
	if err != nil {
		return err
	}
	rules.Enabled = !*off
	if given["allow"] {
		text := strings.ReplaceAll(*allow, ",", "\n")
		if strings.TrimSpace(*allow) == "none" {
			text = ""
		}
		if rules.Ranges, err = firewall.ParseRangeLines(text); err != nil {
			fmt.Fprintf(env.Stderr, "--allow: %s\n", strings.Replace(err.Error(), "line ", "range ", 1))
			return ErrUsage
		}
	}
	if given["countries"] {
		if rules.CountryMode, rules.Countries, err = firewall.ParseCountryRule(*countries); err != nil {
			fmt.Fprintf(env.Stderr, "--countries: %s\n", err)
			return ErrUsage
		}
	}
	stored, err := fw.Set(ctx, firewall.Change{TenantID: t.ID, Rules: rules, Actor: "cli", Force: true})
	if errors.Is(err, firewall.ErrInvalid) {
		fmt.Fprintln(env.Stderr, err)
		return ErrUsage
	}
	if err != nil {
		return err
	}
	printRules(env, stored, fw.CountriesEnforced())
	fmt.Fprintf(env.Stderr, "Saved. A running server applies the rules within %s.\n", firewall.DefaultTTL)
	return nil
}
