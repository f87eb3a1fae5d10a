package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// firewallVersion is the Go migration that puts the tables of migration 15 under
// row-level security on PostgreSQL.
const firewallVersion = 16

func init() {
	registerIsolation(firewallVersion, nil, firewallTables...)
}

// firewallTables are the tables migration 15 adds; each carries tenant_id and is read
// and written only as its tenant.
var firewallTables = []string{"firewall_rules", "firewall_exceptions"}

// Country modes of FirewallRules.
const (
	CountryAllow = "allow" // only the listed countries
	CountryDeny  = "deny"  // every country but the listed ones
)

// FirewallRules are a tenant's logical firewall as stored. The store keeps the ranges
// and country codes as text; package firewall parses and checks them.
type FirewallRules struct {
	TenantID string
	Enabled  bool
	// Ranges are the allowed CIDR ranges ("192.0.2.0/24", "2001:db8::/32").
	Ranges []string
	// CountryMode is "", CountryAllow or CountryDeny; Countries are ISO 3166-1 alpha-2
	// codes.
	CountryMode string
	Countries   []string
	Exceptions  []FirewallException
	UpdatedAt   time.Time
	UpdatedBy   string
}

// FirewallException lets one user in from anywhere or from ranges of their own.
type FirewallException struct {
	UserID string
	// Email is the user's, filled in on reading; SetFirewallRules ignores it.
	Email    string
	Anywhere bool
	Ranges   []string
}

// FirewallRules returns the tenant's firewall; a tenant that never set one gets the
// zero rules (off), with TenantID filled in.
func (s *Store) FirewallRules(ctx context.Context, tenantID string) (FirewallRules, error) {
	r := FirewallRules{TenantID: tenantID}
	err := s.read(ctx, tenantID, func(q querier) error {
		var ranges, countries string
		var updated int64
		err := q.QueryRowContext(ctx, `SELECT enabled, ranges, country_mode, countries, updated_at, updated_by
			FROM firewall_rules WHERE tenant_id = $1`, tenantID).Scan(&r.Enabled, &ranges, &r.CountryMode, &countries, &updated, &r.UpdatedBy)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return fmt.Errorf("firewall rules: %w", err)
		}
		r.Ranges, r.Countries, r.UpdatedAt = splitList(ranges, "\n"), splitList(countries, ","), fromNanos(updated)
		rows, err := q.QueryContext(ctx, `SELECT e.user_id, u.email, e.anywhere, e.ranges
			FROM firewall_exceptions e JOIN users u ON u.tenant_id = e.tenant_id AND u.id = e.user_id
			WHERE e.tenant_id = $1 ORDER BY u.email_key, e.user_id`, tenantID)
		if err != nil {
			return fmt.Errorf("firewall exceptions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e FirewallException
			var ranges string
			if err := rows.Scan(&e.UserID, &e.Email, &e.Anywhere, &ranges); err != nil {
				return fmt.Errorf("firewall exceptions: %w", err)
			}
			e.Ranges = splitList(ranges, "\n")
			r.Exceptions = append(r.Exceptions, e)
		}
		return rows.Err()
	})
	return r, err
}

// SetFirewallRules replaces the tenant's firewall, exceptions included, in one
// transaction. An unknown tenant or excepted user answers ErrNotFound.
func (s *Store) SetFirewallRules(ctx context.Context, r FirewallRules) error {
	if r.CountryMode != "" && r.CountryMode != CountryAllow && r.CountryMode != CountryDeny {
		return fmt.Errorf("firewall country mode %q: %w", r.CountryMode, ErrInvalid)
	}
	for _, v := range r.Ranges {
		if v == "" || strings.ContainsAny(v, "\n") {
			return fmt.Errorf("firewall range %q: %w", v, ErrInvalid)
		}
	}
	for _, c := range r.Countries {
		if c == "" || strings.Contains(c, ",") {
			return fmt.Errorf("firewall country %q: %w", c, ErrInvalid)
		}
	}
	seen := map[string]bool{}
	for _, e := range r.Exceptions {
		if e.UserID == "" || seen[e.UserID] {
			return fmt.Errorf("firewall exception for user %q: empty or twice: %w", e.UserID, ErrInvalid)
		}
		seen[e.UserID] = true
		for _, v := range e.Ranges {
			if v == "" || strings.Contains(v, "\n") {
				return fmt.Errorf("firewall range %q: %w", v, ErrInvalid)
			}
		}
	}
	return s.write(ctx, r.TenantID, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO firewall_rules
			(tenant_id, enabled, ranges, country_mode, countries, updated_at, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant_id) DO UPDATE SET enabled = excluded.enabled, ranges = excluded.ranges,
				country_mode = excluded.country_mode, countries = excluded.countries,
				updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			r.TenantID, r.Enabled, strings.Join(r.Ranges, "\n"), r.CountryMode, strings.Join(r.Countries, ","),
			nanos(s.now()), r.UpdatedBy)
		if isForeignKeyViolation(err) {
			return fmt.Errorf("tenant %q: %w", r.TenantID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("set firewall rules: %w", err)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM firewall_exceptions WHERE tenant_id = $1`, r.TenantID); err != nil {
			return fmt.Errorf("set firewall exceptions: %w", err)
		}
		for _, e := range r.Exceptions {
			_, err := q.ExecContext(ctx, `INSERT INTO firewall_exceptions (tenant_id, user_id, anywhere, ranges)
				VALUES ($1, $2, $3, $4)`, r.TenantID, e.UserID, e.Anywhere, strings.Join(e.Ranges, "\n"))
			if isForeignKeyViolation(err) {
				return fmt.Errorf("user %q: %w", e.UserID, ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("set firewall exception: %w", err)
			}
		}
		return nil
	})
}

// splitList splits a stored list; the empty string is the empty list.
func splitList(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}
