// Package api is the REST API for people and scripts (SECURITY §10): recordings (list,
// read, rename, move, publish, download, delete), folders and their grants, groups and
// rooms. Every route is declared with its rule in server/authz, whose guard has decided
// the request before a handler here runs; handlers check again where a request names a
// second object (a move's target folder, a grant's folder).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/blob"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
	"github.com/aulacapture/aula/server/vod"
)

// Handler serves the REST API.
type Handler struct {
	Meta       *store.Store
	Blobs      blob.Store
	VOD        *vod.Handler
	Authorizer *authz.Authorizer
	Log        *slog.Logger
	Now        func() time.Time
}

// route is one API route: its pattern, the rule that guards it (server/authz), and its
// handler.
type route struct {
	pattern string
	rule    authz.Rule
	handle  func(h *Handler) func(c call)
}

// method turns a handler method into a route's handle.
func method(f func(*Handler, call)) func(*Handler) func(call) {
	return func(h *Handler) func(call) { return func(c call) { f(h, c) } }
}

// routes is every API route, with its rule: declared once, registered once.
var routes = []route{
	{"GET /api/v1/recordings", authz.SignedIn, method((*Handler).listRecordings)},
	{"GET /api/v1/recordings/{id}", authz.On(authz.ActView, authz.ObjectRecording), method((*Handler).getRecording)},
	{"PATCH /api/v1/recordings/{id}", authz.On(authz.ActEdit, authz.ObjectRecording), method((*Handler).editRecording)},
	{"DELETE /api/v1/recordings/{id}", authz.On(authz.ActEdit, authz.ObjectRecording), method((*Handler).deleteRecording)},
	{"PUT /api/v1/recordings/{id}/published", authz.On(authz.ActPublish, authz.ObjectRecording), func(h *Handler) func(call) { return h.publish(true) }},
	{"DELETE /api/v1/recordings/{id}/published", authz.On(authz.ActPublish, authz.ObjectRecording), func(h *Handler) func(call) { return h.publish(false) }},
	{"GET /api/v1/recordings/{id}/tracks/{track}/media.mp4", authz.On(authz.ActDownload, authz.ObjectRecording), method((*Handler).download)},
	{"GET /api/v1/folders", authz.SignedIn, method((*Handler).listFolders)},
	{"POST /api/v1/folders", authz.On(authz.ActManage, authz.ObjectAnyFolder), method((*Handler).createFolder)},
	{"PATCH /api/v1/folders/{id}", authz.On(authz.ActManage, authz.ObjectFolder), method((*Handler).renameFolder)},
	{"DELETE /api/v1/folders/{id}", authz.On(authz.ActManage, authz.ObjectFolder), method((*Handler).deleteFolder)},
	{"GET /api/v1/folders/{id}/grants", authz.On(authz.ActManage, authz.ObjectFolder), method((*Handler).listGrants)},
	{"POST /api/v1/folders/{id}/grants", authz.On(authz.ActManage, authz.ObjectFolder), method((*Handler).addGrant)},
	{"DELETE /api/v1/folders/{id}/grants/{grant}", authz.On(authz.ActManage, authz.ObjectFolder), method((*Handler).removeGrant)},
	{"GET /api/v1/admin/users", authz.TenantAdmin, method((*Handler).listUsers)},
	{"GET /api/v1/admin/groups", authz.TenantAdmin, method((*Handler).listGroups)},
	{"POST /api/v1/admin/groups", authz.TenantAdmin, method((*Handler).createGroup)},
	{"DELETE /api/v1/admin/groups/{group}", authz.TenantAdmin, method((*Handler).deleteGroup)},
	{"PUT /api/v1/admin/groups/{group}/members/{user}", authz.TenantAdmin, func(h *Handler) func(call) { return h.member(true) }},
	{"DELETE /api/v1/admin/groups/{group}/members/{user}", authz.TenantAdmin, func(h *Handler) func(call) { return h.member(false) }},
	{"GET /api/v1/admin/rooms", authz.TenantAdmin, method((*Handler).listRooms)},
	{"PUT /api/v1/admin/rooms/{room}/folders/{folder}", authz.TenantAdmin, func(h *Handler) func(call) { return h.bindRoom(true) }},
	{"DELETE /api/v1/admin/rooms/{room}/folders/{folder}", authz.TenantAdmin, func(h *Handler) func(call) { return h.bindRoom(false) }},
	{"GET /api/v1/folders/{id}/schedule", authz.On(authz.ActView, authz.ObjectFolder), method((*Handler).folderSchedule)},
	{"POST /api/v1/folders/{id}/schedule", authz.On(authz.ActSchedule, authz.ObjectFolder), method((*Handler).addScheduleEntry)},
	{"DELETE /api/v1/folders/{id}/schedule/{entry}", authz.On(authz.ActSchedule, authz.ObjectFolder), method((*Handler).removeScheduleEntry)},
	// The agent routes pass any signed-in caller; the handlers answer only agents, and
	// only about the agent's own room and credential.
	{"GET /api/v1/agents/self/schedule", authz.SignedIn, method((*Handler).agentSchedule)},
	{"PUT /api/v1/agents/self/state", authz.SignedIn, method((*Handler).agentState)},
	{"GET /api/v1/admin/rooms/states", authz.TenantAdmin, method((*Handler).roomStates)},
}

func init() {
	for _, r := range routes {
		authz.Define(r.pattern, r.rule)
	}
}

// Register adds the API routes.
func (h *Handler) Register(mux authz.Mux) {
	for _, r := range routes {
		mux.HandleFunc(r.pattern, h.with(r.handle(h)))
	}
}

// call is one request with its authorized caller.
type call struct {
	w http.ResponseWriter
	r *http.Request
	s *authz.Subject
	p auth.Principal
}

func (c call) ctx() context.Context { return c.r.Context() }
func (c call) tenant() string       { return c.p.TenantID }

// actor names the caller in the audit log.
func (c call) actor() string {
	if c.p.UserID != "" {
		return "user:" + c.p.UserID
	}
	return authz.AgentCreator(c.p.ClientID)
}

// with hands next the subject the guard authorized; without one (a route served
// without the guard) it refuses: nothing here runs unauthorized.
func (h *Handler) with(next func(c call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := authz.SubjectFrom(r.Context())
		if !ok {
			problem.Write(w, r, http.StatusUnauthorized, "unauthenticated", "Sign in first: send a bearer token or a session cookie.")
			return
		}
		next(call{w: w, r: r, s: s, p: s.Principal})
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) audit(c call, action, object, detail string) {
	_, err := h.Meta.AppendAudit(c.ctx(), store.AuditEvent{TenantID: c.tenant(), Action: action, Actor: c.actor(),
		UserID: c.p.UserID, IP: auth.ClientIP(c.r), Detail: strings.TrimSpace(object + " " + detail)})
	if err != nil && h.Log != nil {
		h.Log.Error("audit failed", "action", action, "err", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body of at most 64 KiB strictly into v.
func decode(c call, v any) bool {
	dec := json.NewDecoder(io.LimitReader(c.r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		problem.Write(c.w, c.r, http.StatusBadRequest, "bad-json", "The body is not the JSON this route takes: "+err.Error())
		return false
	}
	return true
}

// fail answers a store error: not found 404, exists 409, invalid 400 (with the store's
// sentence), conflict 409, others 500 logged.
func (h *Handler) fail(c call, err error) {
	msg := err.Error()
	for _, suffix := range []string{": " + store.ErrInvalid.Error(), ": " + store.ErrConflict.Error(), ": " + store.ErrExists.Error(), ": " + store.ErrNotFound.Error()} {
		msg = strings.TrimSuffix(msg, suffix)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		problem.Write(c.w, c.r, http.StatusNotFound, "not-found", "No such object.")
	case errors.Is(err, store.ErrExists):
		problem.Write(c.w, c.r, http.StatusConflict, "exists", "That exists already: "+msg+".")
	case errors.Is(err, store.ErrConflict):
		problem.Write(c.w, c.r, http.StatusConflict, "conflict", msg+".")
	case errors.Is(err, store.ErrInvalid):
		problem.Write(c.w, c.r, http.StatusBadRequest, "invalid", msg+".")
	default:
		if h.Log != nil {
			h.Log.Error("api failed", "path", c.r.URL.Path, "err", err)
		}
		problem.Write(c.w, c.r, http.StatusInternalServerError, "internal", "The server could not do this; it has been logged.")
	}
}

// tree is the caller's tenant's folder tree.
func (h *Handler) tree(c call) (*authz.Tree, error) {
	folders, err := h.Meta.Folders(c.ctx(), c.tenant())
	if err != nil {
		return nil, err
	}
	return authz.NewTree(folders), nil
}

func invalidf(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, store.ErrInvalid)...)
}
