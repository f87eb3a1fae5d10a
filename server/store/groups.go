package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Group sources.
const (
	GroupLocal = "local" // made by an administrator
	GroupSSO   = "sso"   // named by the identity provider's group claim
)

// Group is a set of users of one tenant; roles will be granted to groups (issue 6).
type Group struct {
	TenantID  string
	ID        string
	Name      string // unique per tenant and source
	Source    string // GroupLocal or GroupSSO
	CreatedAt time.Time
}

const groupColumns = `tenant_id, id, name, source, created_at`

// CreateGroup stores g and returns it as stored; an empty ID gets a new UUIDv7. A name
// the tenant already has from the same source answers ErrExists.
func (s *Store) CreateGroup(ctx context.Context, g Group) (Group, error) {
	var made Group
	err := s.write(ctx, g.TenantID, func(q querier) error {
		var err error
		made, err = s.insertGroup(ctx, q, g)
		return err
	})
	return made, err
}

func (s *Store) insertGroup(ctx context.Context, q querier, g Group) (Group, error) {
	switch {
	case g.Name == "":
		return Group{}, fmt.Errorf("group name empty: %w", ErrInvalid)
	case g.Source != GroupLocal && g.Source != GroupSSO:
		return Group{}, fmt.Errorf("group source %q: %w", g.Source, ErrInvalid)
	}
	if err := checkTimes(g.CreatedAt); err != nil {
		return Group{}, err
	}
	if g.ID == "" {
		id, err := newID()
		if err != nil {
			return Group{}, err
		}
		g.ID = id
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	g.CreatedAt = roundTrip(g.CreatedAt)
	n, err := rowsAffected(q.ExecContext(ctx, `INSERT INTO groups (`+groupColumns+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, g.TenantID, g.ID, g.Name, g.Source, nanos(g.CreatedAt)))
	switch {
	case isForeignKeyViolation(err):
		return Group{}, fmt.Errorf("tenant %q: %w", g.TenantID, ErrNotFound)
	case err != nil:
		return Group{}, fmt.Errorf("create group: %w", err)
	case n == 0:
		return Group{}, fmt.Errorf("group %q: %w", g.Name, ErrExists)
	}
	return g, nil
}

// Group finds the tenant's group by ID.
func (s *Store) Group(ctx context.Context, tenantID, id string) (Group, error) {
	var g Group
	err := s.read(ctx, tenantID, func(q querier) error {
		var err error
		g, err = scanGroup(q.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM groups WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		return notFound(err, "group %q", id)
	})
	return g, err
}

// GroupByName finds the tenant's group of the source by name.
func (s *Store) GroupByName(ctx context.Context, tenantID, source, name string) (Group, error) {
	var g Group
	err := s.read(ctx, tenantID, func(q querier) error {
		var err error
		g, err = scanGroup(q.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM groups
			WHERE tenant_id = $1 AND source = $2 AND name = $3`, tenantID, source, name))
		return notFound(err, "group %q", name)
	})
	return g, err
}

// ListGroups returns the tenant's groups by name.
func (s *Store) ListGroups(ctx context.Context, tenantID string) ([]Group, error) {
	return s.queryGroups(ctx, tenantID, `SELECT `+groupColumns+` FROM groups WHERE tenant_id = $1 ORDER BY name, source`, tenantID)
}

// UserGroups returns the groups the user is a member of, by name.
func (s *Store) UserGroups(ctx context.Context, tenantID, userID string) ([]Group, error) {
	return s.queryGroups(ctx, tenantID, `SELECT `+prefixed("g.", groupColumns)+` FROM groups g
		JOIN group_members m ON m.tenant_id = g.tenant_id AND m.group_id = g.id
		WHERE g.tenant_id = $1 AND m.user_id = $2 ORDER BY g.name, g.source`, tenantID, userID)
}

func (s *Store) queryGroups(ctx context.Context, tenantID, query string, args ...any) ([]Group, error) {
	var out []Group
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			g, err := scanGroup(rows)
			if err != nil {
				return fmt.Errorf("list groups: %w", err)
			}
			out = append(out, g)
		}
		return rows.Err()
	})
	return out, err
}

func scanGroup(r scanner) (Group, error) {
	var g Group
	var created int64
	if err := r.Scan(&g.TenantID, &g.ID, &g.Name, &g.Source, &created); err != nil {
		return Group{}, err
	}
	g.CreatedAt = fromNanos(created)
	return g, nil
}

// DeleteGroup removes the group and its memberships.
func (s *Store) DeleteGroup(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `DELETE FROM groups WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		if err != nil {
			return fmt.Errorf("delete group: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("group %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// AddGroupMember makes the user a member of the group; a member already answers
// ErrExists, an unknown group or user ErrNotFound.
func (s *Store) AddGroupMember(ctx context.Context, tenantID, groupID, userID string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		return s.insertMember(ctx, q, tenantID, groupID, userID)
	})
}

func (s *Store) insertMember(ctx context.Context, q querier, tenantID, groupID, userID string) error {
	n, err := rowsAffected(q.ExecContext(ctx, `INSERT INTO group_members (tenant_id, group_id, user_id, added_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, tenantID, groupID, userID, nanos(s.now())))
	switch {
	case isForeignKeyViolation(err):
		return fmt.Errorf("group %q or user %q: %w", groupID, userID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("add group member: %w", err)
	case n == 0:
		return fmt.Errorf("user %q in group %q: %w", userID, groupID, ErrExists)
	}
	return nil
}

// RemoveGroupMember ends the user's membership of the group.
func (s *Store) RemoveGroupMember(ctx context.Context, tenantID, groupID, userID string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3`,
			tenantID, groupID, userID))
		if err != nil {
			return fmt.Errorf("remove group member: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("user %q in group %q: %w", userID, groupID, ErrNotFound)
		}
		return nil
	})
}

// GroupMembers returns the users of the group, by e-mail address.
func (s *Store) GroupMembers(ctx context.Context, tenantID, groupID string) ([]User, error) {
	var users []User
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+prefixed("u.", userSelect)+` FROM users u
			JOIN group_members m ON m.tenant_id = u.tenant_id AND m.user_id = u.id
			WHERE m.tenant_id = $1 AND m.group_id = $2 ORDER BY u.email_key`, tenantID, groupID)
		if err != nil {
			return fmt.Errorf("group members: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return fmt.Errorf("group members: %w", err)
			}
			users = append(users, u)
		}
		return rows.Err()
	})
	return users, err
}

// SyncGroups makes the user's memberships of the source's groups exactly names, in
// one transaction: groups not yet known are made, memberships missing are added and
// memberships of the source's other groups are removed. Groups of other sources are
// left alone. It returns the names added and removed, sorted.
func (s *Store) SyncGroups(ctx context.Context, tenantID, userID, source string, names []string) (added, removed []string, err error) {
	want := map[string]bool{}
	for _, n := range names {
		if n == "" {
			return nil, nil, fmt.Errorf("group name empty: %w", ErrInvalid)
		}
		want[n] = true
	}
	err = s.write(ctx, tenantID, func(q querier) error {
		added, removed = nil, nil
		rows, err := q.QueryContext(ctx, `SELECT g.id, g.name FROM groups g
			JOIN group_members m ON m.tenant_id = g.tenant_id AND m.group_id = g.id
			WHERE g.tenant_id = $1 AND g.source = $2 AND m.user_id = $3`, tenantID, source, userID)
		if err != nil {
			return fmt.Errorf("sync groups: %w", err)
		}
		have := map[string]string{} // name → group ID
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return fmt.Errorf("sync groups: %w", err)
			}
			have[name] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sync groups: %w", err)
		}
		for name, id := range have {
			if want[name] {
				continue
			}
			if _, err := q.ExecContext(ctx, `DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3`,
				tenantID, id, userID); err != nil {
				return fmt.Errorf("sync groups: %w", err)
			}
			removed = append(removed, name)
		}
		for name := range want {
			if _, ok := have[name]; ok {
				continue
			}
			var id string
			err := q.QueryRowContext(ctx, `SELECT id FROM groups WHERE tenant_id = $1 AND source = $2 AND name = $3`,
				tenantID, source, name).Scan(&id)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				g, err := s.insertGroup(ctx, q, Group{TenantID: tenantID, Name: name, Source: source})
				if err != nil {
					return err
				}
				id = g.ID
			case err != nil:
				return fmt.Errorf("sync groups: %w", err)
			}
			if err := s.insertMember(ctx, q, tenantID, id, userID); err != nil {
				return err
			}
			added = append(added, name)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed, nil
}
