package web

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/store"
)

// Folders is what the folder pages read and change; *store.Store is one.
type Folders interface {
	Folders(ctx context.Context, tenantID string) ([]store.Folder, error)
	CreateFolder(ctx context.Context, f store.Folder) (store.Folder, error)
	FolderGrants(ctx context.Context, tenantID, folderID string) ([]store.Grant, error)
	AddGrant(ctx context.Context, g store.Grant) (store.Grant, error)
	RemoveGrant(ctx context.Context, tenantID, folderID, id string) (store.Grant, error)
	UserByEmail(ctx context.Context, tenantID, email string) (store.User, error)
	User(ctx context.Context, tenantID, id string) (store.User, error)
	ListGroups(ctx context.Context, tenantID string) ([]store.Group, error)
	Group(ctx context.Context, tenantID, id string) (store.Group, error)
	RoomBindings(ctx context.Context, tenantID string) ([]store.RoomBinding, error)
	SetPublished(ctx context.Context, tenantID, id string, at *time.Time) error
}

func init() {
	authz.Define("GET /folders", authz.SignedIn)
	authz.Define("GET /folders/{id}", authz.On(authz.ActManage, authz.ObjectFolder))
	authz.Define("POST /folders/{id}/folders", authz.On(authz.ActManage, authz.ObjectFolder))
	authz.Define("POST /folders/{id}/grants", authz.On(authz.ActManage, authz.ObjectFolder))
	authz.Define("POST /folders/{id}/grants/{grant}/remove", authz.On(authz.ActManage, authz.ObjectFolder))
	authz.Define("POST /recordings/{id}/publish", authz.On(authz.ActPublish, authz.ObjectRecording))
	authz.Define("POST /recordings/{id}/unpublish", authz.On(authz.ActPublish, authz.ObjectRecording))
}

func (h *Handler) registerFolders(mux authz.Mux) {
	if h.Folders == nil {
		return
	}
	mux.HandleFunc("GET /folders", h.page(full, h.foldersPage))
	mux.HandleFunc("GET /folders/{id}", h.page(full, h.folderPage))
	mux.HandleFunc("POST /folders/{id}/folders", h.page(full, h.folderCreate))
	mux.HandleFunc("POST /folders/{id}/grants", h.page(full, h.grantAdd))
	mux.HandleFunc("POST /folders/{id}/grants/{grant}/remove", h.page(full, h.grantRemove))
	mux.HandleFunc("POST /recordings/{id}/publish", h.page(full, h.publish(true)))
	mux.HandleFunc("POST /recordings/{id}/unpublish", h.page(full, h.publish(false)))
}

// folderRow is one line of the folders page.
type folderRow struct {
	ID      string
	Path    string
	Depth   int
	Actions []authz.Action
	Manage  bool
}

// grantRow is one grant on the folder page.
type grantRow struct {
	ID, Who, Role string
}

// folderView is the folder pages' data.
type folderView struct {
	Rows    []folderRow
	Folder  folderRow
	Grants  []grantRow
	Groups  []store.Group
	Roles   []authz.Role
	Rooms   []string
	IsAdmin bool
}

func (h *Handler) foldersPage(w http.ResponseWriter, r *http.Request, v visitor) {
	s, err := h.subject(r, v)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	folders, err := h.Folders.Folders(r.Context(), v.se.TenantID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	t := authz.NewTree(folders)
	visible := map[string]bool{}
	for _, id := range s.VisibleFolders() {
		visible[id] = true
	}
	var view folderView
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		if visible[id] {
			view.Rows = append(view.Rows, h.folderRow(t, s, id, depth))
		}
		for _, c := range t.Children(id) {
			walk(c, depth+1)
		}
	}
	walk(t.Root, 0)
	h.render(w, r, http.StatusOK, "folders", page{Title: "Folders", Visitor: v, Data: view, Flash: r.URL.Query().Get("done")})
}

func (h *Handler) folderRow(t *authz.Tree, s *authz.Subject, id string, depth int) folderRow {
	row := folderRow{ID: id, Path: t.Path(id), Depth: depth, Manage: s.Can(authz.ActManage, id)}
	for _, a := range authz.Actions {
		if s.Can(a, id) {
			row.Actions = append(row.Actions, a)
		}
	}
	return row
}

func (h *Handler) folderPage(w http.ResponseWriter, r *http.Request, v visitor) {
	h.renderFolder(w, r, v, http.StatusOK, "", r.URL.Query().Get("done"))
}

func (h *Handler) renderFolder(w http.ResponseWriter, r *http.Request, v visitor, status int, problemText, flash string) {
	ctx := r.Context()
	s, err := h.subject(r, v)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	id := r.PathValue("id")
	folders, err := h.Folders.Folders(ctx, v.se.TenantID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	t := authz.NewTree(folders)
	if _, ok := t.Folder(id); !ok || !s.Can(authz.ActManage, id) {
		h.render(w, r, http.StatusNotFound, "message", page{Title: "Not found", Visitor: v, Error: "No such folder."})
		return
	}
	view := folderView{Folder: h.folderRow(t, s, id, 0), Roles: authz.Roles, IsAdmin: s.Admin}
	for _, c := range t.Children(id) {
		view.Rows = append(view.Rows, h.folderRow(t, s, c, 1))
	}
	grants, err := h.Folders.FolderGrants(ctx, v.se.TenantID, id)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	for _, g := range grants {
		who := "user " + g.UserID
		if g.UserID != "" {
			if u, err := h.Folders.User(ctx, v.se.TenantID, g.UserID); err == nil {
				who = u.Email
			}
		} else if gr, err := h.Folders.Group(ctx, v.se.TenantID, g.GroupID); err == nil {
			who = "group " + gr.Name
		}
		view.Grants = append(view.Grants, grantRow{g.ID, who, g.Role})
	}
	if view.Groups, err = h.Folders.ListGroups(ctx, v.se.TenantID); err != nil {
		h.internal(w, r, err)
		return
	}
	bindings, err := h.Folders.RoomBindings(ctx, v.se.TenantID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	for _, b := range bindings {
		if b.FolderID == id {
			view.Rooms = append(view.Rooms, b.Room)
		}
	}
	sort.Strings(view.Rooms)
	h.render(w, r, status, "folder", page{Title: view.Folder.Path, Visitor: v, Data: view, Error: problemText, Flash: flash})
}

func (h *Handler) folderCreate(w http.ResponseWriter, r *http.Request, v visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	id := r.PathValue("id")
	f, err := h.Folders.CreateFolder(r.Context(), store.Folder{TenantID: v.se.TenantID, ParentID: id, Name: r.PostFormValue("name")})
	if errors.Is(err, store.ErrExists) {
		h.renderFolder(w, r, v, http.StatusConflict, "This folder already has a subfolder of that name.", "")
		return
	}
	if errors.Is(err, store.ErrInvalid) {
		h.renderFolder(w, r, v, http.StatusBadRequest, sentence(err), "")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.Authorizer.Invalidate()
	h.Accounts.Audit(r.Context(), v.se.TenantID, "folder.created", v.user.Email, v.user.ID, auth.ClientIP(r), "folder "+f.ID+" "+f.Name)
	http.Redirect(w, r, "/folders/"+id+"?done=Folder+made.", http.StatusSeeOther)
}

func (h *Handler) grantAdd(w http.ResponseWriter, r *http.Request, v visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	ctx := r.Context()
	id := r.PathValue("id")
	s, err := h.subject(r, v)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	role := authz.Role(r.PostFormValue("role"))
	if !authz.ValidRole(role) {
		h.renderFolder(w, r, v, http.StatusBadRequest, "Choose one of the roles.", "")
		return
	}
	if role == authz.RoleAdmin && !s.Admin {
		h.renderFolder(w, r, v, http.StatusForbidden, "Only the organisation's administrators may grant the admin role.", "")
		return
	}
	g := store.Grant{TenantID: v.se.TenantID, FolderID: id, Role: string(role), CreatedBy: "user:" + v.user.ID}
	who := r.PostFormValue("email")
	if group := r.PostFormValue("group"); group != "" {
		g.GroupID, who = group, "group "+group
	} else {
		u, err := h.Folders.UserByEmail(ctx, v.se.TenantID, who)
		if errors.Is(err, store.ErrNotFound) {
			h.renderFolder(w, r, v, http.StatusBadRequest, "There is no user with that e-mail address here.", "")
			return
		}
		if err != nil {
			h.internal(w, r, err)
			return
		}
		g.UserID = u.ID
	}
	g, err = h.Folders.AddGrant(ctx, g)
	switch {
	case errors.Is(err, store.ErrExists):
		h.renderFolder(w, r, v, http.StatusConflict, who+" already has that role here.", "")
		return
	case errors.Is(err, store.ErrNotFound):
		h.renderFolder(w, r, v, http.StatusBadRequest, "There is no such group here.", "")
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	h.Authorizer.Invalidate()
	h.Accounts.Audit(ctx, v.se.TenantID, "grant.added", v.user.Email, g.UserID, auth.ClientIP(r), "folder "+id+": "+g.Role+" to "+who+" (grant "+g.ID+")")
	http.Redirect(w, r, "/folders/"+id+"?done=Role+granted.", http.StatusSeeOther)
}

func (h *Handler) grantRemove(w http.ResponseWriter, r *http.Request, v visitor) {
	ctx := r.Context()
	id, gid := r.PathValue("id"), r.PathValue("grant")
	s, err := h.subject(r, v)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	grants, err := h.Folders.FolderGrants(ctx, v.se.TenantID, id)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	for _, g := range grants {
		if g.ID == gid && authz.Role(g.Role) == authz.RoleAdmin && !s.Admin {
			h.renderFolder(w, r, v, http.StatusForbidden, "Only the organisation's administrators may take back the admin role.", "")
			return
		}
	}
	g, err := h.Folders.RemoveGrant(ctx, v.se.TenantID, id, gid)
	if errors.Is(err, store.ErrNotFound) {
		h.renderFolder(w, r, v, http.StatusNotFound, "No such grant.", "")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.Authorizer.Invalidate()
	h.Accounts.Audit(ctx, v.se.TenantID, "grant.removed", v.user.Email, g.UserID, auth.ClientIP(r), "folder "+id+": "+g.Role+" (grant "+g.ID+")")
	http.Redirect(w, r, "/folders/"+id+"?done=Role+taken+back.", http.StatusSeeOther)
}

func (h *Handler) publish(on bool) func(w http.ResponseWriter, r *http.Request, v visitor) {
	return func(w http.ResponseWriter, r *http.Request, v visitor) {
		id := r.PathValue("id")
		var at *time.Time
		action := "recording.unpublished"
		if on {
			now := time.Now()
			at, action = &now, "recording.published"
		}
		if err := h.Folders.SetPublished(r.Context(), v.se.TenantID, id, at); err != nil {
			h.internal(w, r, err)
			return
		}
		h.Accounts.Audit(r.Context(), v.se.TenantID, action, v.user.Email, v.user.ID, auth.ClientIP(r), "recording "+id)
		http.Redirect(w, r, "/recordings/"+id, http.StatusSeeOther)
	}
}

// sentence is a store error's message without its sentinel suffix.
func sentence(err error) string {
	msg := err.Error()
	for _, s := range []error{store.ErrInvalid, store.ErrExists, store.ErrNotFound, store.ErrConflict} {
		if len(msg) > len(s.Error())+2 && msg[len(msg)-len(s.Error())-2:] == ": "+s.Error() {
			msg = msg[:len(msg)-len(s.Error())-2]
		}
	}
	return msg + "."
}
