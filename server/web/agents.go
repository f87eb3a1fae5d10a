package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/store"
)

func init() {
	authz.Define("GET /admin/agents", authz.TenantAdmin)
	authz.Define("POST /admin/agents/enroll", authz.TenantAdmin)
	authz.Define("POST /admin/agents/{id}/revoke", authz.TenantAdmin)
}

// Agents is what the administrators' agents page reads and changes: the rooms' agent
// credentials, their enrollment codes, and the folders rooms record into; *store.Store
// is one.
type Agents interface {
	OAuthClients(ctx context.Context, tenantID string) ([]store.OAuthClient, error)
	RevokeOAuthClient(ctx context.Context, tenantID, id string, at time.Time) error
	Enrollments(ctx context.Context, tenantID string) ([]store.Enrollment, error)
	CreateEnrollment(ctx context.Context, e store.Enrollment) (store.Enrollment, error)
	Folders(ctx context.Context, tenantID string) ([]store.Folder, error)
	BindRoom(ctx context.Context, tenantID, room, folderID string) error
	RoomBindings(ctx context.Context, tenantID string) ([]store.RoomBinding, error)
}

var _ Agents = (*store.Store)(nil)

// enrollTTLs are the lifetimes an administrator may choose for an enrollment code, the
// first the default; the command line allows any from a minute to 30 days.
var enrollTTLs = []ttlChoice{
	{"24h", "24 hours", 24 * time.Hour},
	{"1h", "1 hour", time.Hour},
	{"168h", "7 days", 7 * 24 * time.Hour},
	{"720h", "30 days", 30 * 24 * time.Hour},
}

type ttlChoice struct {
	Value, Label string
	d            time.Duration
}

const (
	// maxRoomName is the longest room name, as on the command line.
	maxRoomName = 200
	// agentsShown is how many enrollment codes the page lists, newest first.
	agentsShown = 50
)

// agents is the store of the agents page, when set.
func (h *Handler) agents() (Agents, bool) {
	return h.Agents, h.Agents != nil
}

// registerAgents adds the administrators' agents page when the store can list agents.
func (h *Handler) registerAgents(mux authz.Mux) {
	if _, ok := h.agents(); !ok {
		return
	}
	mux.HandleFunc("GET /admin/agents", h.admin(h.agentsPage))
	mux.HandleFunc("POST /admin/agents/enroll", h.admin(h.agentEnroll))
	mux.HandleFunc("POST /admin/agents/{id}/revoke", h.admin(h.agentRevoke))
}

// agentsView is the agents page's Data.
type agentsView struct {
	Agents []agentRow
	Codes  []codeRow
	TTLs   []ttlChoice
	// The form as typed, after a refusal.
	Room, Folder, TTL string
	// Made is the enrollment just made: its code is shown in this answer only.
	Made *madeCode
}

type agentRow struct {
	store.OAuthClient
	Folder string
}

type codeRow struct {
	store.Enrollment
	State string // open, used or expired
}

type madeCode struct {
	Code, Room, Folder, Command string
	ExpiresAt                   time.Time
}

func (h *Handler) agentsPage(w http.ResponseWriter, r *http.Request, v visitor) {
	h.renderAgents(w, r, http.StatusOK, v, page{Flash: r.URL.Query().Get("done")}, &agentsView{Folder: "/", TTL: enrollTTLs[0].Value})
}

func (h *Handler) renderAgents(w http.ResponseWriter, r *http.Request, status int, v visitor, p page, view *agentsView) {
	a, _ := h.agents()
	ctx, tenant := r.Context(), v.user.TenantID
	clients, err := a.OAuthClients(ctx, tenant)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	codes, err := a.Enrollments(ctx, tenant)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	folders, err := a.Folders(ctx, tenant)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	bindings, err := a.RoomBindings(ctx, tenant)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	tree := authz.NewTree(folders)
	roomFolder := map[string]string{}
	for _, b := range bindings {
		roomFolder[b.Room] = tree.Path(b.FolderID)
	}
	// Newest first, as the codes.
	for i := len(clients) - 1; i >= 0; i-- {
		view.Agents = append(view.Agents, agentRow{OAuthClient: clients[i], Folder: roomFolder[clients[i].Room]})
	}
	now := time.Now()
	for i, e := range codes {
		if i == agentsShown {
			break
		}
		state := "open"
		switch {
		case e.UsedAt != nil:
			state = "used"
		case !now.Before(e.ExpiresAt):
			state = "expired"
		}
		view.Codes = append(view.Codes, codeRow{Enrollment: e, State: state})
	}
	view.TTLs = enrollTTLs
	p.Title, p.Visitor, p.Data = "Agents", v, view
	h.render(w, r, status, "agents", p)
}

// validRoom reports whether a room name may be used: not empty, at most maxRoomName
// bytes of UTF-8 text without control characters.
func validRoom(room string) bool {
	if room == "" || len(room) > maxRoomName || !utf8.ValidString(room) {
		return false
	}
	return strings.IndexFunc(room, unicode.IsControl) < 0
}

// agentEnroll makes a one-time enrollment code for a room, as aula-server enrollment
// create does, binds the room to the folder, and shows the code once.
func (h *Handler) agentEnroll(w http.ResponseWriter, r *http.Request, v visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	a, _ := h.agents()
	ctx, tenant := r.Context(), v.user.TenantID
	room := strings.TrimSpace(r.PostFormValue("room"))
	folder := strings.TrimSpace(r.PostFormValue("folder"))
	if folder == "" {
		folder = "/"
	}
	view := &agentsView{Room: room, Folder: folder, TTL: r.PostFormValue("ttl")}
	refuse := func(msg string) {
		h.renderAgents(w, r, http.StatusUnprocessableEntity, v, page{Error: msg}, view)
	}
	if !validRoom(room) {
		refuse(fmt.Sprintf("Name the room, such as Hall B, in at most %d characters.", maxRoomName))
		return
	}
	var ttl time.Duration
	for _, c := range enrollTTLs {
		if c.Value == view.TTL {
			ttl = c.d
		}
	}
	if ttl == 0 {
		refuse("Choose how long the code may be used.")
		return
	}
	folders, err := a.Folders(ctx, tenant)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	folderID, err := authz.NewTree(folders).Find(folder)
	if err != nil {
		refuse("There is no folder " + folder + ". Type a folder's path, such as /Physics/Year 1, or / for the top.")
		return
	}
	if err := a.BindRoom(ctx, tenant, room, folderID); err != nil {
		h.internal(w, r, err)
		return
	}
	code, hash, err := auth.NewToken()
	if err != nil {
		h.internal(w, r, err)
		return
	}
	now := time.Now()
	e, err := a.CreateEnrollment(ctx, store.Enrollment{TenantID: tenant, Room: room, CodeHash: hash, CreatedAt: now, ExpiresAt: now.Add(ttl)})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if err := h.Accounts.Audit(ctx, tenant, "agent.enrollment_created", v.user.Email, v.user.ID, auth.ClientIP(r),
		fmt.Sprintf("room %s, folder %s, enrollment %s, until %s", room, folder, e.ID, e.ExpiresAt.UTC().Format(time.RFC3339))); err != nil {
		// The code is not shown when its making could not be recorded (SECURITY §20).
		h.internal(w, r, err)
		return
	}
	made := &madeCode{Code: code, Room: room, Folder: folder, ExpiresAt: e.ExpiresAt,
		Command: "aula-agent enroll --server https://" + r.Host + " " + code}
	// Shown once, in this answer only; the form starts afresh.
	h.renderAgents(w, r, http.StatusOK, v, page{}, &agentsView{Folder: "/", TTL: enrollTTLs[0].Value, Made: made})
}

// agentRevoke revokes a room's agent, as aula-server agent revoke does: it gets no new
// token, and the tokens it holds stop working at once.
func (h *Handler) agentRevoke(w http.ResponseWriter, r *http.Request, v visitor) {
	a, _ := h.agents()
	ctx, tenant, id := r.Context(), v.user.TenantID, r.PathValue("id")
	err := a.RevokeOAuthClient(ctx, tenant, id, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		h.renderAgents(w, r, http.StatusNotFound, v, page{Error: "No such agent."}, &agentsView{Folder: "/", TTL: enrollTTLs[0].Value})
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	// Audit logs its own failure; the revocation stands either way.
	_ = h.Accounts.Audit(ctx, tenant, "agent.revoked", v.user.Email, v.user.ID, auth.ClientIP(r), "client "+id)
	http.Redirect(w, r, "/admin/agents?done=revoked", http.StatusSeeOther)
}
