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

func init() {
	authz.Define("GET /api/v1/recordings", authz.SignedIn)
	authz.Define("GET /api/v1/recordings/{id}", authz.On(authz.ActView, authz.ObjectRecording))
	authz.Define("PATCH /api/v1/recordings/{id}", authz.On(authz.ActEdit, authz.ObjectRecording))
	authz.Define("DELETE /api/v1/recordings/{id}", authz.On(authz.ActEdit, authz.ObjectRecording))
	authz.Define("PUT /api/v1/recordings/{id}/published", authz.On(authz.ActPublish, authz.ObjectRecording))
	authz.Define("DELETE /api/v1/recordings/{id}/published", authz.On(authz.ActPublish, authz.ObjectRecording))
	authz.Define("GET /api/v1/recordings/{id}/tracks/{track}/media.mp4", authz.On(authz.ActDownload, authz.ObjectRecording))
	authz.Define("GET /api/v1/folders", authz.SignedIn)
	authz.Define("POST /api/v1/folders", authz.On(authz.ActManage, authz.ObjectAnyFolder))
	authz.Define("PATCH /api/v1/folders/{id}", authz.On(authz.ActManage, authz.ObjectFolder))
	authz.Define("DELETE /api/v1/folders/{id}", authz.On(authz.ActManage, authz.ObjectFolder))
	authz.Define("GET /api/v1/folders/{id}/grants", authz.On(authz.ActManage, authz.ObjectFolder))
	authz.Define("POST /api/v1/folders/{id}/grants", authz.On(authz.ActManage, authz.ObjectFolder))
	authz.Define("DELETE /api/v1/folders/{id}/grants/{grant}", authz.On(authz.ActManage, authz.ObjectFolder))
	authz.Define("GET /api/v1/admin/users", authz.TenantAdmin)
	authz.Define("GET /api/v1/admin/groups", authz.TenantAdmin)
	authz.Define("POST /api/v1/admin/groups", authz.TenantAdmin)
	authz.Define("DELETE /api/v1/admin/groups/{group}", authz.TenantAdmin)
	authz.Define("PUT /api/v1/admin/groups/{group}/members/{user}", authz.TenantAdmin)
	authz.Define("DELETE /api/v1/admin/groups/{group}/members/{user}", authz.TenantAdmin)
	authz.Define("GET /api/v1/admin/rooms", authz.TenantAdmin)
	authz.Define("PUT /api/v1/admin/rooms/{room}/folders/{folder}", authz.TenantAdmin)
	authz.Define("DELETE /api/v1/admin/rooms/{room}/folders/{folder}", authz.TenantAdmin)
}

// Register adds the API routes.
func (h *Handler) Register(mux authz.Mux) {
	mux.HandleFunc("GET /api/v1/recordings", h.with(h.listRecordings))
	mux.HandleFunc("GET /api/v1/recordings/{id}", h.with(h.getRecording))
	mux.HandleFunc("PATCH /api/v1/recordings/{id}", h.with(h.editRecording))
	mux.HandleFunc("DELETE /api/v1/recordings/{id}", h.with(h.deleteRecording))
	mux.HandleFunc("PUT /api/v1/recordings/{id}/published", h.with(h.publish(true)))
	mux.HandleFunc("DELETE /api/v1/recordings/{id}/published", h.with(h.publish(false)))
	mux.HandleFunc("GET /api/v1/recordings/{id}/tracks/{track}/media.mp4", h.with(h.download))
	mux.HandleFunc("GET /api/v1/folders", h.with(h.listFolders))
	mux.HandleFunc("POST /api/v1/folders", h.with(h.createFolder))
	mux.HandleFunc("PATCH /api/v1/folders/{id}", h.with(h.renameFolder))
	mux.HandleFunc("DELETE /api/v1/folders/{id}", h.with(h.deleteFolder))
	mux.HandleFunc("GET /api/v1/folders/{id}/grants", h.with(h.listGrants))
	mux.HandleFunc("POST /api/v1/folders/{id}/grants", h.with(h.addGrant))
	mux.HandleFunc("DELETE /api/v1/folders/{id}/grants/{grant}", h.with(h.removeGrant))
	mux.HandleFunc("GET /api/v1/admin/users", h.with(h.listUsers))
	mux.HandleFunc("GET /api/v1/admin/groups", h.with(h.listGroups))
	mux.HandleFunc("POST /api/v1/admin/groups", h.with(h.createGroup))
	mux.HandleFunc("DELETE /api/v1/admin/groups/{group}", h.with(h.deleteGroup))
	mux.HandleFunc("PUT /api/v1/admin/groups/{group}/members/{user}", h.with(h.member(true)))
	mux.HandleFunc("DELETE /api/v1/admin/groups/{group}/members/{user}", h.with(h.member(false)))
	mux.HandleFunc("GET /api/v1/admin/rooms", h.with(h.listRooms))
	mux.HandleFunc("PUT /api/v1/admin/rooms/{room}/folders/{folder}", h.with(h.bindRoom(true)))
	mux.HandleFunc("DELETE /api/v1/admin/rooms/{room}/folders/{folder}", h.with(h.bindRoom(false)))
	h.registerSchedule(mux)
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
