package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
)

// Records finds recordings; *store.Store is one.
type Records interface {
	Recording(ctx context.Context, tenantID, id string) (store.Recording, error)
}

// Guard authenticates each request (bearer token or session cookie), applies the
// tenant's firewall, and decides the route's rule: the one authorization function of
// every API route and page.
type Guard struct {
	Authorizer *Authorizer
	Records    Records
	Tokens     auth.Tokens
	Sessions   *auth.Sessions
	// Firewall, if set, refuses callers from addresses the tenant does not allow; its
	// error is shown to the caller.
	Firewall func(ctx context.Context, tenantID, userID string, r *http.Request) error
	Log      *slog.Logger
	Now      func() time.Time
}

type targetKey struct{}
type subjectKey struct{}
type recordingKey struct{}

// SubjectFrom is the authorized caller of this request, if the route's rule needed one.
func SubjectFrom(ctx context.Context) (*Subject, bool) {
	s, ok := ctx.Value(subjectKey{}).(*Subject)
	return s, ok
}

// TargetFolder is the folder a new recording goes into, decided by the guard of
// PUT /api/v1/recordings/{id}: the "folder" query parameter, else the agent's room's
// first folder, else the tenant's root.
func TargetFolder(ctx context.Context) (string, bool) {
	f, ok := ctx.Value(targetKey{}).(string)
	return f, ok
}

// RecordingFrom is the recording the guard resolved for the request, if any.
func RecordingFrom(ctx context.Context) (store.Recording, bool) {
	r, ok := ctx.Value(recordingKey{}).(store.Recording)
	return r, ok
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// Wrap guards next with rule.
func (g *Guard) Wrap(rule Rule, next http.Handler) http.Handler {
	if rule.Kind == KindPublic || rule.Kind == KindAccount {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, ok := g.authenticate(w, r)
		if !ok {
			return
		}
		s, err := g.Authorizer.Subject(ctx, p)
		if errors.Is(err, ErrNoSubject) {
			g.unauthenticated(w, r, "This credential no longer names a user or agent.")
			return
		}
		if err != nil {
			g.internal(w, r, err)
			return
		}
		if g.Firewall != nil {
			if err := g.Firewall(ctx, p.TenantID, p.UserID, r); err != nil {
				problem.Write(w, r, http.StatusForbidden, "firewall", err.Error())
				return
			}
		}
		ctx = WithPrincipal(ctx, p)
		ctx = context.WithValue(ctx, subjectKey{}, s)
		switch rule.Kind {
		case KindSignedIn:
		case KindTenantAdmin:
			if !s.Admin {
				problem.Write(w, r, http.StatusForbidden, "forbidden", "Only the organisation's administrators may do this.")
				return
			}
		case KindObject:
			var ok bool
			if ctx, ok = g.object(w, r.WithContext(ctx), rule, s); !ok {
				return
			}
		default:
			g.internal(w, r, errors.New("authz: rule of unknown kind"))
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// object decides a KindObject rule against the object the path names.
func (g *Guard) object(w http.ResponseWriter, r *http.Request, rule Rule, s *Subject) (context.Context, bool) {
	ctx := r.Context()
	id := r.PathValue("id")
	switch rule.Object {
	case ObjectAnyFolder:
		if !s.CanAnywhere(rule.Action) {
			g.denied(w, r, true)
			return nil, false
		}
		return ctx, true
	case ObjectFolder:
		if !s.HasFolder(id) {
			problem.Write(w, r, http.StatusNotFound, "not-found", "No such folder.")
			return nil, false
		}
		if !s.Can(rule.Action, id) {
			g.denied(w, r, s.Can(ActView, id))
			return nil, false
		}
		return ctx, true
	case ObjectRecording, ObjectNewRecording:
		if !manifest.ValidID(id) {
			// A malformed ID says nothing about what exists: answer as the ingest API
			// always has.
			problem.Write(w, r, http.StatusBadRequest, "bad-request", fmt.Sprintf("recording id %q is not a lowercase UUIDv7", id))
			return nil, false
		}
		rec, err := g.Records.Recording(ctx, s.Principal.TenantID, id)
		if errors.Is(err, store.ErrNotFound) && rule.Object == ObjectNewRecording {
			return g.newRecording(w, r, rule, s)
		}
		if errors.Is(err, store.ErrNotFound) {
			problem.Write(w, r, http.StatusNotFound, "not-found", "No such recording.")
			return nil, false
		}
		if err != nil {
			g.internal(w, r, err)
			return nil, false
		}
		if !s.CanSee(rec) {
			problem.Write(w, r, http.StatusNotFound, "not-found", "No such recording.")
			return nil, false
		}
		if !s.CanOn(rule.Action, rec) {
			g.denied(w, r, true)
			return nil, false
		}
		return context.WithValue(ctx, recordingKey{}, rec), true
	}
	g.internal(w, r, errors.New("authz: object rule of unknown object"))
	return nil, false
}

// newRecording decides the creation of a recording: Action in the folder asked for
// (?folder=ID), else the agent's room's first folder, else the tenant's root.
func (g *Guard) newRecording(w http.ResponseWriter, r *http.Request, rule Rule, s *Subject) (context.Context, bool) {
	folder := r.URL.Query().Get("folder")
	if folder == "" && s.Agent {
		for _, id := range s.sortedRoomFolders() {
			folder = id
			break
		}
		if folder == "" {
			problem.Write(w, r, http.StatusForbidden, "room-unbound",
				"This agent's room is bound to no folder; an administrator binds it with aula-server room bind.")
			return nil, false
		}
	}
	if folder == "" {
		folder = s.Principal.TenantID
	}
	if !s.HasFolder(folder) {
		problem.Write(w, r, http.StatusNotFound, "not-found", "No such folder.")
		return nil, false
	}
	if !s.Can(rule.Action, folder) {
		g.denied(w, r, s.Can(ActView, folder))
		return nil, false
	}
	return context.WithValue(r.Context(), targetKey{}, folder), true
}

// sortedRoomFolders lists an agent's folders in a stable order.
func (s *Subject) sortedRoomFolders() []string {
	var out []string
	for id, roles := range s.roles {
		if len(roles) > 0 {
			out = append(out, id)
		}
	}
	sortStrings(out)
	return out
}

// denied answers a refused request: 403 when the caller may know the object exists,
// else 404, so that nothing reveals what the caller may not see.
func (g *Guard) denied(w http.ResponseWriter, r *http.Request, visible bool) {
	if visible {
		problem.Write(w, r, http.StatusForbidden, "forbidden", "Your role does not allow this here.")
		return
	}
	problem.Write(w, r, http.StatusNotFound, "not-found", "No such object.")
}

// authenticate finds the caller: a bearer token, else a signed-in session.
func (g *Guard) authenticate(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	ctx := r.Context()
	if r.Header.Get("Authorization") != "" {
		p, err := auth.Bearer(ctx, g.Tokens, r, g.now())
		switch {
		case err == nil:
			return p, true
		case errors.Is(err, auth.ErrBadToken), errors.Is(err, auth.ErrExpired), errors.Is(err, auth.ErrNoCredentials):
			g.unauthenticated(w, r, "The token is not valid, or has expired or been revoked.")
		default:
			g.internal(w, r, err)
		}
		return auth.Principal{}, false
	}
	p, err := g.Sessions.Get(ctx, r)
	if err == nil {
		return p, true
	}
	if !errors.Is(err, auth.ErrNoSession) && !errors.Is(err, auth.ErrStage) {
		g.internal(w, r, err)
		return auth.Principal{}, false
	}
	if isAPI(r) || r.Method != http.MethodGet {
		g.unauthenticated(w, r, "Sign in first: send a bearer token or a session cookie.")
		return auth.Principal{}, false
	}
	// A page: send the browser to sign in (or on to the step it is at), and back here.
	if se, err := g.Sessions.Current(ctx, r); err == nil && se.Stage == store.SessionMFA {
		http.Redirect(w, r, "/signin/2fa", http.StatusSeeOther)
		return auth.Principal{}, false
	} else if err == nil && se.Stage == store.SessionSetup {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return auth.Principal{}, false
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return auth.Principal{}, false
}

func (g *Guard) unauthenticated(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="aula"`)
	problem.Write(w, r, http.StatusUnauthorized, "unauthenticated", msg)
}

func (g *Guard) internal(w http.ResponseWriter, r *http.Request, err error) {
	if g.Log != nil {
		g.Log.Error("authorization failed", "path", r.URL.Path, "err", err)
	}
	problem.Write(w, r, http.StatusInternalServerError, "internal", "The server could not check this request; it has been logged.")
}

// Router registers routes on a mux, each guarded by the rule Define declared for its
// pattern. Registering a route without a rule panics: no route goes unguarded.
type Router struct {
	Mux   *http.ServeMux
	Guard *Guard
	// Probe, in tests, replaces every handler with one answering 204, so that an
	// authorization matrix can run every route without side effects.
	Probe    bool
	patterns []string
}

// Handle registers h for pattern behind its rule.
func (rt *Router) Handle(pattern string, h http.Handler) {
	rule, ok := RuleFor(pattern)
	if !ok {
		panic("authz: route " + pattern + " has no rule; declare it with authz.Define")
	}
	rt.patterns = append(rt.patterns, pattern)
	if rt.Probe {
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	}
	rt.Mux.Handle(pattern, rt.Guard.Wrap(rule, h))
}

// HandleFunc registers f for pattern behind its rule.
func (rt *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(f))
}

// Patterns lists the registered routes in registration order.
func (rt *Router) Patterns() []string { return append([]string(nil), rt.patterns...) }
