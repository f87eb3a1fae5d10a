package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"
)

// TestFolderRowLevelSecurity: on PostgreSQL a query of migration 11's tables with the
// wrong tenant set, or none, returns no rows.
func TestFolderRowLevelSecurity(t *testing.T) {
	s := openStore(t, newDSN(t, dialectPostgres))
	ctx := context.Background()
	a, b := tenant(t, s, "a"), tenant(t, s, "b")
	for _, tn := range []Tenant{a, b} {
		f := must[Folder](t)(s.CreateFolder(ctx, Folder{TenantID: tn.ID, ParentID: tn.ID, Name: "Physics"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: tn.ID, Email: "u@example.org", Role: RoleViewer}))
		must[Grant](t)(s.AddGrant(ctx, Grant{TenantID: tn.ID, FolderID: f.ID, UserID: u.ID, Role: "viewer", CreatedBy: "test"}))
		check(t, s.BindRoom(ctx, tn.ID, "Hall", f.ID))
	}
	count := func(setting, value, table string) (n int) {
		t.Helper()
		check(t, s.tx(ctx, false, func(tx *sql.Tx) error {
			if setting != "" {
				if err := s.declare(ctx, tx, setting, value); err != nil {
					return err
				}
			}
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, b.ID).Scan(&n)
		}))
		return n
	}
	for _, table := range folderTables {
		if n := count("", "", table); n != 0 {
			t.Errorf("no tenant set: %d of b's rows of %s visible", n, table)
		}
		if n := count(settingTenant, a.ID, table); n != 0 {
			t.Errorf("tenant a set: %d of b's rows of %s visible", n, table)
		}
		if n := count(settingTenant, b.ID, table); n == 0 {
			t.Errorf("tenant b set: none of b's rows of %s visible", table)
		}
	}
}

// TestFoldersAndGrants: the tree, names, grants through groups, room bindings.
func TestFoldersAndGrantsStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		root := must[Folder](t)(s.Folder(ctx, a.ID, a.ID))
		if root.ParentID != "" || root.Name != "a" {
			t.Errorf("root folder %+v", root)
		}
		p := must[Folder](t)(s.CreateFolder(ctx, Folder{TenantID: a.ID, ParentID: a.ID, Name: " Physics "}))
		if p.Name != "Physics" {
			t.Errorf("name %q, want it trimmed", p.Name)
		}
		if _, err := s.CreateFolder(ctx, Folder{TenantID: a.ID, ParentID: a.ID, Name: "Physics"}); !errors.Is(err, ErrExists) {
			t.Errorf("same name again: %v", err)
		}
		for _, bad := range []string{"", "  ", "a\x00b", string(make([]byte, 300))} {
			if _, err := s.CreateFolder(ctx, Folder{TenantID: a.ID, ParentID: a.ID, Name: bad}); !errors.Is(err, ErrInvalid) {
				t.Errorf("name %q: %v, want ErrInvalid", bad, err)
			}
		}
		if _, err := s.CreateFolder(ctx, Folder{TenantID: a.ID, ParentID: "nope", Name: "X"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown parent: %v", err)
		}
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleViewer}))
		g := must[Group](t)(s.CreateGroup(ctx, Group{TenantID: a.ID, Name: "Staff", Source: GroupLocal}))
		check(t, s.AddGroupMember(ctx, a.ID, g.ID, u.ID))
		must[Grant](t)(s.AddGrant(ctx, Grant{TenantID: a.ID, FolderID: p.ID, GroupID: g.ID, Role: "creator", CreatedBy: "test"}))
		if _, err := s.AddGrant(ctx, Grant{TenantID: a.ID, FolderID: p.ID, GroupID: g.ID, Role: "creator", CreatedBy: "test"}); !errors.Is(err, ErrExists) {
			t.Errorf("same grant again: %v", err)
		}
		if _, err := s.AddGrant(ctx, Grant{TenantID: a.ID, FolderID: p.ID, UserID: u.ID, GroupID: g.ID, Role: "viewer"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("grant to a user and a group: %v", err)
		}
		grants := must[[]Grant](t)(s.UserGrants(ctx, a.ID, u.ID))
		if len(grants) != 1 || grants[0].GroupID != g.ID || grants[0].FolderID != p.ID {
			t.Errorf("user's grants through its group: %+v", grants)
		}
		check(t, s.RemoveGroupMember(ctx, a.ID, g.ID, u.ID))
		if grants := must[[]Grant](t)(s.UserGrants(ctx, a.ID, u.ID)); len(grants) != 0 {
			t.Errorf("after leaving the group: %+v", grants)
		}
		if err := s.DeleteFolder(ctx, a.ID, a.ID); !errors.Is(err, ErrConflict) {
			t.Errorf("deleting the root: %v", err)
		}
		check(t, s.BindRoom(ctx, a.ID, "Hall", p.ID))
		if got := must[[]string](t)(s.RoomFolders(ctx, a.ID, "Hall")); len(got) != 1 || got[0] != p.ID {
			t.Errorf("room folders %v", got)
		}
		check(t, s.DeleteFolder(ctx, a.ID, p.ID))
		if got := must[[]string](t)(s.RoomFolders(ctx, a.ID, "Hall")); len(got) != 0 {
			t.Errorf("room folders after the folder went: %v", got)
		}
	})
}
