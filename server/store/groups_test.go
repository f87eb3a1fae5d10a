package store

import (
	"context"
	"slices"
	"testing"
)

func groupNames(gs []Group) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Source+":"+g.Name)
	}
	return out
}

func TestGroups(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@uni.example", Role: RoleViewer}))
		v := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "v@uni.example", Role: RoleViewer}))

		staff := must[Group](t)(s.CreateGroup(ctx, Group{TenantID: a.ID, Name: "staff", Source: GroupLocal}))
		_, err := s.CreateGroup(ctx, Group{TenantID: a.ID, Name: "staff", Source: GroupLocal})
		wantErr(t, "same name and source", err, ErrExists)
		must[Group](t)(s.CreateGroup(ctx, Group{TenantID: a.ID, Name: "staff", Source: GroupSSO}))
		_, err = s.CreateGroup(ctx, Group{TenantID: a.ID, Name: "x", Source: "ldap"})
		wantErr(t, "unknown source", err, ErrInvalid)
		_, err = s.CreateGroup(ctx, Group{TenantID: a.ID, Source: GroupLocal})
		wantErr(t, "no name", err, ErrInvalid)
		_, err = s.CreateGroup(ctx, Group{TenantID: "nope", Name: "x", Source: GroupLocal})
		wantErr(t, "unknown tenant", err, ErrNotFound)

		if got := must[Group](t)(s.Group(ctx, a.ID, staff.ID)); got != staff {
			t.Errorf("Group = %+v, want %+v", got, staff)
		}
		if got := must[Group](t)(s.GroupByName(ctx, a.ID, GroupLocal, "staff")); got != staff {
			t.Errorf("GroupByName = %+v", got)
		}
		_, err = s.Group(ctx, b.ID, staff.ID)
		wantErr(t, "other tenant's group", err, ErrNotFound)

		check(t, s.AddGroupMember(ctx, a.ID, staff.ID, u.ID))
		wantErr(t, "member twice", s.AddGroupMember(ctx, a.ID, staff.ID, u.ID), ErrExists)
		wantErr(t, "unknown user", s.AddGroupMember(ctx, a.ID, staff.ID, "nope"), ErrNotFound)
		wantErr(t, "other tenant", s.AddGroupMember(ctx, b.ID, staff.ID, u.ID), ErrNotFound)
		members := must[[]User](t)(s.GroupMembers(ctx, a.ID, staff.ID))
		if len(members) != 1 || members[0].ID != u.ID {
			t.Errorf("GroupMembers = %+v", members)
		}

		// Sync adds and removes only the source's memberships, making groups as needed.
		added, removed, err := s.SyncGroups(ctx, a.ID, u.ID, GroupSSO, []string{"staff", "physics"})
		check(t, err)
		if !slices.Equal(added, []string{"physics", "staff"}) || len(removed) != 0 {
			t.Errorf("first sync: added %q removed %q", added, removed)
		}
		if got := groupNames(must[[]Group](t)(s.UserGroups(ctx, a.ID, u.ID))); !slices.Equal(got, []string{"sso:physics", "local:staff", "sso:staff"}) {
			t.Errorf("after first sync: %q", got)
		}
		added, removed, err = s.SyncGroups(ctx, a.ID, u.ID, GroupSSO, []string{"physics"})
		check(t, err)
		if len(added) != 0 || !slices.Equal(removed, []string{"staff"}) {
			t.Errorf("second sync: added %q removed %q", added, removed)
		}
		if got := groupNames(must[[]Group](t)(s.UserGroups(ctx, a.ID, u.ID))); !slices.Equal(got, []string{"sso:physics", "local:staff"}) {
			t.Errorf("after second sync: %q (the local group must stay)", got)
		}
		// Another user joins the existing group; no second "physics" is made.
		_, _, err = s.SyncGroups(ctx, a.ID, v.ID, GroupSSO, []string{"physics"})
		check(t, err)
		if all := groupNames(must[[]Group](t)(s.ListGroups(ctx, a.ID))); !slices.Equal(all, []string{"sso:physics", "local:staff", "sso:staff"}) {
			t.Errorf("ListGroups = %q", all)
		}
		_, _, err = s.SyncGroups(ctx, a.ID, u.ID, GroupSSO, nil)
		check(t, err)
		if got := groupNames(must[[]Group](t)(s.UserGroups(ctx, a.ID, u.ID))); !slices.Equal(got, []string{"local:staff"}) {
			t.Errorf("after empty sync: %q", got)
		}
		_, _, err = s.SyncGroups(ctx, a.ID, u.ID, GroupSSO, []string{""})
		wantErr(t, "empty group name", err, ErrInvalid)
		if got := must[[]Group](t)(s.ListGroups(ctx, b.ID)); len(got) != 0 {
			t.Errorf("tenant b sees groups %q", groupNames(got))
		}

		check(t, s.RemoveGroupMember(ctx, a.ID, staff.ID, u.ID))
		wantErr(t, "remove again", s.RemoveGroupMember(ctx, a.ID, staff.ID, u.ID), ErrNotFound)
		check(t, s.DeleteGroup(ctx, a.ID, staff.ID))
		wantErr(t, "delete again", s.DeleteGroup(ctx, a.ID, staff.ID), ErrNotFound)
	})
}
