package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/store"
)

func init() {
	registerCommand("folder create", "  aula-server folder create --tenant T --path /A/B               make a folder (and any missing above it)", runFolderCreate)
	registerCommand("folder list", "  aula-server folder list --tenant T                             the tenant's folders with their grants and rooms", runFolderList)
	registerCommand("grant add", "  aula-server grant add --tenant T --folder /A (--email E | --group G) --role R\n"+
		"                                                                 give a user or group a role on a folder and below: "+roleList()+"", runGrantAdd)
	registerCommand("grant remove", "  aula-server grant remove --tenant T --folder /A --id GRANT      take a grant back", runGrantRemove)
	registerCommand("room bind", "  aula-server room bind --tenant T --room NAME --folder /A         let the room's agents record into the folder", runRoomBind)
	registerCommand("room unbind", "  aula-server room unbind --tenant T --room NAME --folder /A       stop the room's agents recording into the folder", runRoomUnbind)
}

func roleList() string {
	var names []string
	for _, r := range authz.Roles {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

// folderFlags parses --tenant and the given flags and opens the tenant.
func folderCommand(ctx context.Context, env Env, fs *flag.FlagSet, args []string, need ...*string) (*server.Server, store.Tenant, error) {
	tenant := fs.String("tenant", "", "tenant `NAME`")
	cfg, err := config(env, fs, args)
	if err != nil {
		return nil, store.Tenant{}, err
	}
	if *tenant == "" {
		fmt.Fprintf(env.Stderr, "%s needs --tenant NAME.\n", fs.Name())
		return nil, store.Tenant{}, ErrUsage
	}
	for _, p := range need {
		if *p == "" {
			fmt.Fprintf(env.Stderr, "%s is missing a flag; see aula-server help.\n", fs.Name())
			return nil, store.Tenant{}, ErrUsage
		}
	}
	return openTenant(ctx, cfg, *tenant)
}

// findFolder is the tenant's folder at path.
func findFolder(ctx context.Context, srv *server.Server, t store.Tenant, path string) (string, error) {
	folders, err := srv.Meta.Folders(ctx, t.ID)
	if err != nil {
		return "", err
	}
	id, err := authz.NewTree(folders).Find(path)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("tenant %q has no folder %s; make it with aula-server folder create", t.Name, path)
	}
	return id, err
}

func addGrant(ctx context.Context, srv *server.Server, g store.Grant, folder, who string) error {
	if !authz.ValidRole(authz.Role(g.Role)) {
		return fmt.Errorf("role %q is not one of %s", g.Role, roleList())
	}
	g, err := srv.Meta.AddGrant(ctx, g)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%s already has %s on %s", who, g.Role, folder)
	}
	if err != nil {
		return err
	}
	srv.Authorizer().Invalidate()
	_, err = srv.Meta.AppendAudit(ctx, store.AuditEvent{TenantID: g.TenantID, Action: "grant.added", Actor: "cli", UserID: g.UserID,
		Detail: fmt.Sprintf("%s on %s to %s (grant %s)", g.Role, folder, who, g.ID)})
	return err
}

func runFolderCreate(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "folder create")
	path := fs.String("path", "", "the folder's `PATH`, such as \"/Physics/Year 1\"")
	srv, t, err := folderCommand(ctx, env, fs, args, path)
	if err != nil {
		return err
	}
	defer srv.Close()
	names, err := authz.SplitPath(*path)
	if err != nil {
		return err
	}
	folders, err := srv.Meta.Folders(ctx, t.ID)
	if err != nil {
		return err
	}
	tree := authz.NewTree(folders)
	id, made := tree.Root, 0
	for i, n := range names {
		sub := "/" + strings.Join(names[:i+1], "/")
		if next, err := tree.Find(sub); err == nil {
			id = next
			continue
		}
		f, err := srv.Meta.CreateFolder(ctx, store.Folder{TenantID: t.ID, ParentID: id, Name: n})
		if err != nil {
			return fmt.Errorf("make %s: %w", sub, err)
		}
		if _, err := srv.Meta.AppendAudit(ctx, store.AuditEvent{TenantID: t.ID, Action: "folder.created", Actor: "cli", Detail: sub + " (" + f.ID + ")"}); err != nil {
			return err
		}
		id, made = f.ID, made+1
	}
	fmt.Fprintln(env.Stdout, id)
	fmt.Fprintf(env.Stderr, "%s of %q: %d folders made.\n", *path, t.Name, made)
	return nil
}

func runFolderList(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "folder list")
	srv, t, err := folderCommand(ctx, env, fs, args)
	if err != nil {
		return err
	}
	defer srv.Close()
	folders, err := srv.Meta.Folders(ctx, t.ID)
	if err != nil {
		return err
	}
	tree := authz.NewTree(folders)
	var walk func(id string) error
	walk = func(id string) error {
		fmt.Fprintf(env.Stdout, "%s\t%s\n", tree.Path(id), id)
		grants, err := srv.Meta.FolderGrants(ctx, t.ID, id)
		if err != nil {
			return err
		}
		for _, g := range grants {
			who := "user " + g.UserID
			if u, err := srv.Meta.User(ctx, t.ID, g.UserID); err == nil {
				who = u.Email
			}
			if g.GroupID != "" {
				who = "group " + g.GroupID
				if gr, err := srv.Meta.Group(ctx, t.ID, g.GroupID); err == nil {
					who = "group " + gr.Name
				}
			}
			fmt.Fprintf(env.Stdout, "  grant %s: %s to %s\n", g.ID, g.Role, who)
		}
		for _, c := range tree.Children(id) {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(tree.Root)
}

func runGrantAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "grant add")
	folder := fs.String("folder", "", "the folder `PATH`")
	email := fs.String("email", "", "the user's e-mail `ADDRESS`")
	group := fs.String("group", "", "the group's `NAME` (local or from single sign-on)")
	role := fs.String("role", "", "the `ROLE`: "+roleList())
	srv, t, err := folderCommand(ctx, env, fs, args, folder, role)
	if err != nil {
		return err
	}
	defer srv.Close()
	if (*email == "") == (*group == "") {
		fmt.Fprintln(env.Stderr, "grant add needs one of --email ADDRESS and --group NAME.")
		return ErrUsage
	}
	id, err := findFolder(ctx, srv, t, *folder)
	if err != nil {
		return err
	}
	g := store.Grant{TenantID: t.ID, FolderID: id, Role: *role, CreatedBy: "cli"}
	who := *email
	if *email != "" {
		u, err := srv.Meta.UserByEmail(ctx, t.ID, *email)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("tenant %q has no user %s", t.Name, *email)
		}
		if err != nil {
			return err
		}
		g.UserID = u.ID
	} else {
		gr, err := srv.Meta.GroupByName(ctx, t.ID, store.GroupLocal, *group)
		if errors.Is(err, store.ErrNotFound) {
			gr, err = srv.Meta.GroupByName(ctx, t.ID, store.GroupSSO, *group)
		}
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("tenant %q has no group %q", t.Name, *group)
		}
		if err != nil {
			return err
		}
		g.GroupID, who = gr.ID, "group "+gr.Name
	}
	if err := addGrant(ctx, srv, g, *folder, who); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%s now has %s on %s and below.\n", who, *role, *folder)
	return nil
}

func runGrantRemove(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "grant remove")
	folder := fs.String("folder", "", "the folder `PATH`")
	id := fs.String("id", "", "the grant's `ID` (see folder list)")
	srv, t, err := folderCommand(ctx, env, fs, args, folder, id)
	if err != nil {
		return err
	}
	defer srv.Close()
	fid, err := findFolder(ctx, srv, t, *folder)
	if err != nil {
		return err
	}
	g, err := srv.Meta.RemoveGrant(ctx, t.ID, fid, *id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s has no grant %s", *folder, *id)
	}
	if err != nil {
		return err
	}
	srv.Authorizer().Invalidate()
	if _, err := srv.Meta.AppendAudit(ctx, store.AuditEvent{TenantID: t.ID, Action: "grant.removed", Actor: "cli", UserID: g.UserID,
		Detail: fmt.Sprintf("%s on %s (grant %s)", g.Role, *folder, g.ID)}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Grant %s of %s on %s removed.\n", g.ID, g.Role, *folder)
	return nil
}

func runRoomBind(ctx context.Context, env Env, args []string) error {
	return roomBinding(ctx, env, args, true)
}
func runRoomUnbind(ctx context.Context, env Env, args []string) error {
	return roomBinding(ctx, env, args, false)
}

func roomBinding(ctx context.Context, env Env, args []string, bind bool) error {
	name := map[bool]string{true: "room bind", false: "room unbind"}[bind]
	fs := newFlagSet(env, name)
	room := fs.String("room", "", "the room's `NAME`, as in its enrollment")
	folder := fs.String("folder", "", "the folder `PATH`")
	srv, t, err := folderCommand(ctx, env, fs, args, room, folder)
	if err != nil {
		return err
	}
	defer srv.Close()
	id, err := findFolder(ctx, srv, t, *folder)
	if err != nil {
		return err
	}
	action := "room.bound"
	if bind {
		err = srv.Meta.BindRoom(ctx, t.ID, *room, id)
	} else {
		action = "room.unbound"
		err = srv.Meta.UnbindRoom(ctx, t.ID, *room, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("room %q is not bound to %s", *room, *folder)
		}
	}
	if err != nil {
		return err
	}
	srv.Authorizer().Invalidate()
	if _, err := srv.Meta.AppendAudit(ctx, store.AuditEvent{TenantID: t.ID, Action: action, Actor: "cli", Detail: fmt.Sprintf("room %s, folder %s", *room, *folder)}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%s: room %q, folder %s.\n", action, *room, *folder)
	return nil
}
