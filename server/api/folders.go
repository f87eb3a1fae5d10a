package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
)

func writeProblem(c call, status int, slug, detail string) {
	problem.Write(c.w, c.r, status, slug, detail)
}

type folderJSON struct {
	ID      string         `json:"id"`
	Parent  string         `json:"parent,omitempty"`
	Name    string         `json:"name"`
	Path    string         `json:"path"`
	Actions []authz.Action `json:"actions"`
}

func folderView(f store.Folder, t *authz.Tree, s *authz.Subject) folderJSON {
	out := folderJSON{ID: f.ID, Parent: f.ParentID, Name: f.Name, Path: t.Path(f.ID), Actions: []authz.Action{}}
	for _, a := range authz.Actions {
		if s.Can(a, f.ID) {
			out.Actions = append(out.Actions, a)
		}
	}
	return out
}

// listFolders lists the folders the caller may act in, with what it may do there.
func (h *Handler) listFolders(c call) {
	t, err := h.tree(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	out := []folderJSON{}
	visible := map[string]bool{}
	for _, id := range c.s.VisibleFolders() {
		visible[id] = true
	}
	var walk func(string)
	walk = func(id string) {
		if f, ok := t.Folder(id); ok && visible[id] {
			out = append(out, folderView(f, t, c.s))
		}
		for _, ch := range t.Children(id) {
			walk(ch)
		}
	}
	walk(t.Root)
	writeJSON(c.w, http.StatusOK, map[string]any{"folders": out})
}

// createFolder makes {"name"} below {"parent"} (default the root); it needs manage on
// the parent.
func (h *Handler) createFolder(c call) {
	var body struct {
		Parent string `json:"parent"`
		Name   string `json:"name"`
	}
	if !decode(c, &body) {
		return
	}
	if body.Parent == "" {
		body.Parent = c.tenant()
	}
	if !c.s.HasFolder(body.Parent) || !c.s.Can(authz.ActView, body.Parent) && !c.s.Can(authz.ActManage, body.Parent) {
		h.fail(c, store.ErrNotFound)
		return
	}
	if !c.s.Can(authz.ActManage, body.Parent) {
		writeProblem(c, http.StatusForbidden, "forbidden", "Your role does not allow making folders there.")
		return
	}
	f, err := h.Meta.CreateFolder(c.ctx(), store.Folder{TenantID: c.tenant(), ParentID: body.Parent, Name: body.Name})
	if err != nil {
		h.fail(c, err)
		return
	}
	h.Authorizer.Invalidate()
	t, err := h.tree(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, "folder.created", "folder "+f.ID, t.Path(f.ID))
	s, err := h.Authorizer.Subject(c.ctx(), c.p)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.w.Header().Set("Location", "/api/v1/folders/"+f.ID)
	writeJSON(c.w, http.StatusCreated, folderView(f, t, s))
}

func (h *Handler) renameFolder(c call) {
	var body struct {
		Name string `json:"name"`
	}
	if !decode(c, &body) {
		return
	}
	id := c.r.PathValue("id")
	if err := h.Meta.RenameFolder(c.ctx(), c.tenant(), id, body.Name); err != nil {
		h.fail(c, err)
		return
	}
	h.Authorizer.Invalidate()
	h.audit(c, "folder.renamed", "folder "+id, body.Name)
	c.w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) deleteFolder(c call) {
	id := c.r.PathValue("id")
	if err := h.Meta.DeleteFolder(c.ctx(), c.tenant(), id); err != nil {
		h.fail(c, err)
		return
	}
	h.Authorizer.Invalidate()
	h.audit(c, "folder.deleted", "folder "+id, "")
	c.w.WriteHeader(http.StatusNoContent)
}

type grantJSON struct {
	ID        string    `json:"id"`
	Folder    string    `json:"folder"`
	User      string    `json:"user,omitempty"`
	Email     string    `json:"email,omitempty"`
	Group     string    `json:"group,omitempty"`
	GroupName string    `json:"group_name,omitempty"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

func (h *Handler) grantView(c call, g store.Grant) grantJSON {
	out := grantJSON{ID: g.ID, Folder: g.FolderID, User: g.UserID, Group: g.GroupID, Role: g.Role, CreatedAt: g.CreatedAt, CreatedBy: g.CreatedBy}
	if g.UserID != "" {
		if u, err := h.Meta.User(c.ctx(), c.tenant(), g.UserID); err == nil {
			out.Email = u.Email
		}
	}
	if g.GroupID != "" {
		if gr, err := h.Meta.Group(c.ctx(), c.tenant(), g.GroupID); err == nil {
			out.GroupName = gr.Name
		}
	}
	return out
}

func (h *Handler) listGrants(c call) {
	grants, err := h.Meta.FolderGrants(c.ctx(), c.tenant(), c.r.PathValue("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	out := []grantJSON{}
	for _, g := range grants {
		out = append(out, h.grantView(c, g))
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"grants": out})
}

// addGrant gives {"email"} or {"group"} (a group ID) {"role"} on the folder. Only the
// tenant's administrators grant admin.
func (h *Handler) addGrant(c call) {
	var body struct {
		Email string `json:"email"`
		User  string `json:"user"`
		Group string `json:"group"`
		Role  string `json:"role"`
	}
	if !decode(c, &body) {
		return
	}
	if !authz.ValidRole(authz.Role(body.Role)) {
		h.fail(c, invalidf("role %q is not one of viewer, creator, publisher, scheduler, manager, admin", body.Role))
		return
	}
	if authz.Role(body.Role) == authz.RoleAdmin && !c.s.Admin {
		writeProblem(c, http.StatusForbidden, "forbidden", "Only the organisation's administrators may grant the admin role.")
		return
	}
	g := store.Grant{TenantID: c.tenant(), FolderID: c.r.PathValue("id"), Role: body.Role, CreatedBy: c.actor()}
	n := 0
	if body.Email != "" {
		u, err := h.Meta.UserByEmail(c.ctx(), c.tenant(), body.Email)
		if err != nil {
			h.fail(c, err)
			return
		}
		g.UserID, n = u.ID, n+1
	}
	if body.User != "" {
		g.UserID, n = body.User, n+1
	}
	if body.Group != "" {
		g.GroupID, n = body.Group, n+1
	}
	if n != 1 {
		h.fail(c, invalidf("a grant names one of email, user and group"))
		return
	}
	g, err := h.Meta.AddGrant(c.ctx(), g)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.Authorizer.Invalidate()
	h.audit(c, "grant.added", "folder "+g.FolderID, g.Role+" to "+map[bool]string{true: "user " + g.UserID, false: "group " + g.GroupID}[g.UserID != ""]+" (grant "+g.ID+")")
	writeJSON(c.w, http.StatusCreated, h.grantView(c, g))
}

func (h *Handler) removeGrant(c call) {
	folder, id := c.r.PathValue("id"), c.r.PathValue("grant")
	grants, err := h.Meta.FolderGrants(c.ctx(), c.tenant(), folder)
	if err != nil {
		h.fail(c, err)
		return
	}
	for _, g := range grants {
		if g.ID == id && authz.Role(g.Role) == authz.RoleAdmin && !c.s.Admin {
			writeProblem(c, http.StatusForbidden, "forbidden", "Only the organisation's administrators may take back the admin role.")
			return
		}
	}
	g, err := h.Meta.RemoveGrant(c.ctx(), c.tenant(), folder, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.Authorizer.Invalidate()
	h.audit(c, "grant.removed", "folder "+g.FolderID, g.Role+" (grant "+g.ID+")")
	c.w.WriteHeader(http.StatusNoContent)
}

type userJSON struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
	Locked bool   `json:"locked"`
}

func (h *Handler) listUsers(c call) {
	users, err := h.Meta.ListUsers(c.ctx(), c.tenant())
	if err != nil {
		h.fail(c, err)
		return
	}
	out := []userJSON{}
	for _, u := range users {
		out = append(out, userJSON{u.ID, u.Email, u.Role, u.LockedAt != nil})
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"users": out})
}

type groupJSON struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Source  string   `json:"source"`
	Members []string `json:"members"`
}

func (h *Handler) listGroups(c call) {
	groups, err := h.Meta.ListGroups(c.ctx(), c.tenant())
	if err != nil {
		h.fail(c, err)
		return
	}
	out := []groupJSON{}
	for _, g := range groups {
		members, err := h.Meta.GroupMembers(c.ctx(), c.tenant(), g.ID)
		if err != nil {
			h.fail(c, err)
			return
		}
		j := groupJSON{g.ID, g.Name, g.Source, []string{}}
		for _, m := range members {
			j.Members = append(j.Members, m.Email)
		}
		out = append(out, j)
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"groups": out})
}

func (h *Handler) createGroup(c call) {
	var body struct {
		Name string `json:"name"`
	}
	if !decode(c, &body) {
		return
	}
	g, err := h.Meta.CreateGroup(c.ctx(), store.Group{TenantID: c.tenant(), Name: body.Name, Source: store.GroupLocal})
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, "group.created", "group "+g.ID, g.Name)
	writeJSON(c.w, http.StatusCreated, groupJSON{g.ID, g.Name, g.Source, []string{}})
}

func (h *Handler) deleteGroup(c call) {
	id := c.r.PathValue("group")
	if err := h.Meta.DeleteGroup(c.ctx(), c.tenant(), id); err != nil {
		h.fail(c, err)
		return
	}
	h.Authorizer.Invalidate()
	h.audit(c, "group.deleted", "group "+id, "")
	c.w.WriteHeader(http.StatusNoContent)
}

// member adds the user to a local group or takes it out; SSO groups follow the identity
// provider and are not changed here.
func (h *Handler) member(add bool) func(c call) {
	return func(c call) {
		gid, uid := c.r.PathValue("group"), c.r.PathValue("user")
		g, err := h.Meta.Group(c.ctx(), c.tenant(), gid)
		if err != nil {
			h.fail(c, err)
			return
		}
		if g.Source != store.GroupLocal {
			writeProblem(c, http.StatusConflict, "sso-group", "This group follows the identity provider's group claim; change its members there.")
			return
		}
		action := "group.member_added"
		if add {
			err = h.Meta.AddGroupMember(c.ctx(), c.tenant(), gid, uid)
			if errors.Is(err, store.ErrExists) {
				err = nil
			}
		} else {
			action = "group.member_removed"
			err = h.Meta.RemoveGroupMember(c.ctx(), c.tenant(), gid, uid)
		}
		if err != nil {
			h.fail(c, err)
			return
		}
		h.Authorizer.Invalidate()
		h.audit(c, action, "group "+gid, "user "+uid)
		c.w.WriteHeader(http.StatusNoContent)
	}
}

type roomJSON struct {
	Room    string   `json:"room"`
	Folders []string `json:"folders"`
	Agents  []string `json:"agents"`
}

func (h *Handler) listRooms(c call) {
	bindings, err := h.Meta.RoomBindings(c.ctx(), c.tenant())
	if err != nil {
		h.fail(c, err)
		return
	}
	clients, err := h.Meta.OAuthClients(c.ctx(), c.tenant())
	if err != nil {
		h.fail(c, err)
		return
	}
	rooms := map[string]*roomJSON{}
	var order []string
	get := func(name string) *roomJSON {
		if rooms[name] == nil {
			rooms[name] = &roomJSON{Room: name, Folders: []string{}, Agents: []string{}}
			order = append(order, name)
		}
		return rooms[name]
	}
	for _, b := range bindings {
		get(b.Room).Folders = append(get(b.Room).Folders, b.FolderID)
	}
	for _, cl := range clients {
		if cl.RevokedAt == nil {
			get(cl.Room).Agents = append(get(cl.Room).Agents, cl.ID)
		}
	}
	out := []roomJSON{}
	for _, n := range order {
		out = append(out, *rooms[n])
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"rooms": out})
}

func (h *Handler) bindRoom(bind bool) func(c call) {
	return func(c call) {
		room, folder := c.r.PathValue("room"), c.r.PathValue("folder")
		var err error
		action := "room.bound"
		if bind {
			err = h.Meta.BindRoom(c.ctx(), c.tenant(), room, folder)
		} else {
			action = "room.unbound"
			err = h.Meta.UnbindRoom(c.ctx(), c.tenant(), room, folder)
		}
		if err != nil {
			h.fail(c, err)
			return
		}
		h.Authorizer.Invalidate()
		h.audit(c, action, "folder "+folder, "room "+room)
		c.w.WriteHeader(http.StatusNoContent)
	}
}
