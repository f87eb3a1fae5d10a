// Package web serves the server's pages: sign-in with its second step, account pages
// (password, two-factor, sessions), the administrators' users page, the tenant's
// recordings and the player. Pages are html/template with a little plain JavaScript;
// hls.js plays HLS where the browser has no native HLS.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"github.com/aulacapture/aula/server/authz"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/sso"
	"github.com/aulacapture/aula/server/store"
	"github.com/aulacapture/aula/server/vod"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// Metadata is what the recording pages read; *store.Store is one.
type Metadata interface {
	ListVisibleRecordings(ctx context.Context, tenantID string, v store.Visibility, limit, offset int) ([]store.Recording, error)
	Recording(ctx context.Context, tenantID, id string) (store.Recording, error)
}

// Handler serves the pages.
type Handler struct {
	Meta Metadata
	// Authorizer decides what the visitor may see (server/authz); the router's guard
	// has checked each route's rule before a page runs.
	Authorizer *authz.Authorizer
	Users      Accounts
	Accounts   *auth.Accounts
	Sessions   *auth.Sessions
	Signer     *vod.Signer
	Log        *slog.Logger
	// SSO, if set, adds single sign-on: the sign-in page's organisation form, the
	// provider's callback and the administrators' SSO and groups pages.
	SSO *sso.Service
	// RedirectURI is the exact callback URL for single sign-on at the address r came to,
	// or an error when that address is not one the server is configured for.
	RedirectURI func(r *http.Request) (string, error)
	// Groups lists groups for the groups page (with SSO).
	Groups Groups
	// Passkeys, with WebAuthnRP, adds security keys and passkeys as a second factor.
	Passkeys *auth.Passkeys
	// WebAuthnRP is the relying party (host name and exact origin) at the address r
	// came to, or an error when that address is not one the server is configured for.
	WebAuthnRP func(r *http.Request) (auth.RP, error)
	// Agents, if set, adds the administrators' agents page (enrollment codes, revoking).
	Agents Agents
	// Folders, if set, adds the folder pages (grants, subfolders) and publishing.
	Folders Folders
	// AuditLog, if set, adds the administrators' audit log page (audit.go).
	AuditLog AuditLog
	// Firewall, if set, adds the administrators' firewall page (firewall.go).
	Firewall Firewall
	pages    map[string]*template.Template
}

// HasPlayer reports whether hls.js was embedded (make setup copies it from npm).
func HasPlayer() bool {
	_, err := fs.Stat(staticFS, "static/hls.min.js")
	return err == nil
}

// Register adds the page routes to mux. The server guards every state-changing route
// against cross-origin requests in front of the mux.
func (h *Handler) Register(mux authz.Mux) {
	h.pages = map[string]*template.Template{}
	funcs := template.FuncMap{
		"duration": func(s float64) string {
			d := time.Duration(s * float64(time.Second)).Round(time.Second)
			return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
		},
		"when": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
	}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, file := range names {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if name == "layout" {
			continue
		}
		h.pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", file))
	}
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/recordings", http.StatusSeeOther) })
	mux.HandleFunc("GET /signin", h.signinPage)
	mux.HandleFunc("POST /signin", h.signin)
	mux.HandleFunc("POST /signout", h.signout)
	mux.HandleFunc("GET /signin/2fa", h.page(mfa, h.secondFactorPage))
	mux.HandleFunc("POST /signin/2fa", h.page(mfa, h.secondFactor))
	mux.HandleFunc("GET /account", h.page(full, h.accountPage))
	mux.HandleFunc("GET /account/password", h.page(fullSetup, h.passwordPage))
	mux.HandleFunc("POST /account/password", h.page(fullSetup, h.changePassword))
	mux.HandleFunc("GET /account/2fa", h.page(fullSetup, h.twoFactorPage))
	mux.HandleFunc("POST /account/2fa", h.page(fullSetup, h.enrolTOTP))
	mux.HandleFunc("POST /account/2fa/recovery-codes", h.page(full, h.newRecoveryCodes))
	mux.HandleFunc("GET /account/sessions", h.page(full, h.sessionsPage))
	mux.HandleFunc("POST /account/sessions/{id}/revoke", h.page(full, h.revokeSession))
	mux.HandleFunc("POST /account/sessions/revoke-all", h.page(full, h.signoutEverywhere))
	mux.HandleFunc("GET /account/keepalive", h.page(full, h.keepalive))
	mux.HandleFunc("GET /admin/users", h.admin(h.usersPage))
	mux.HandleFunc("POST /admin/users/{id}/{action}", h.admin(h.userAction))
	h.registerSSO(mux)
	h.registerWebAuthn(mux)
	h.registerAudit(mux)
	h.registerFirewall(mux)
	h.registerFolders(mux)
	h.registerAgents(mux)
	mux.HandleFunc("GET /recordings", h.page(full, h.list))
	mux.HandleFunc("GET /recordings/{id}", h.page(full, h.player))
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

type page struct {
	Title      string
	SignedIn   bool
	Error      string
	Email      string
	Recordings []store.Recording
	Recording  store.Recording
	Main       string
	Second     string

	Visitor      visitor
	IsAdmin      bool
	IdleSeconds  int // before the idle timeout, for the warning script; 0 for none
	Flash        string
	Forced       bool
	MinLength    int
	MaxLength    int
	Secret       string
	QR           template.URL // a PNG data: URL made here, never from input
	Codes        []string
	RecoveryLeft int
	Next         string
	Sessions     []sessionRow
	Users        []store.User
	OneTime      string
	SSOForm      bool     // the sign-in page offers single sign-on
	SSOEmail     string   // the address typed into the single sign-on form
	SSO          *ssoView // the single sign-on and groups pages
	WebAuthn     bool     // security keys can be used at this address
	HasPasskey   bool     // the visitor has a security key for this address
	Passkeys     []store.WebAuthnCredential
	KeyCounts    map[string]int // security keys per user, on the users page
	// Data is a page's own view, for pages that need more than the fields above.
	Data any
}

// User is the visitor's account, for templates.
func (p page) User() store.User { return p.Visitor.user }

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Visitor.se.Stage == store.SessionFull {
		p.SignedIn = true
		p.IsAdmin = p.Visitor.user.Role == store.RoleAdmin
		p.IdleSeconds = h.idleLeft(r, p.Visitor)
	}
	p.SSOForm = h.SSO != nil
	if name == "twofactor" || name == "signin2fa" || name == "account" {
		if err := h.addWebAuthn(r, &p); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; worker-src 'self' blob:; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := h.pages[name].ExecuteTemplate(w, name+".html", p); err != nil && h.Log != nil {
		h.Log.Error("render page", "page", name, "err", err)
	}
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	rememberNext(w, r)
	h.render(w, r, http.StatusOK, "signin", page{Title: "Sign in"})
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	if err := h.Sessions.Delete(r.Context(), w, r); err != nil {
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// subject is what the visitor may do: the guard's, or loaded here.
func (h *Handler) subject(r *http.Request, v visitor) (*authz.Subject, error) {
	if s, ok := authz.SubjectFrom(r.Context()); ok {
		return s, nil
	}
	return h.Authorizer.Subject(r.Context(), auth.Principal{TenantID: v.se.TenantID, UserID: v.se.UserID, SessionID: v.se.ID})
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, v visitor) {
	s, err := h.subject(r, v)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	recs, err := h.Meta.ListVisibleRecordings(r.Context(), v.se.TenantID, s.Visibility(), 200, 0)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "recordings", page{Title: "Recordings", Visitor: v, Recordings: recs})
}

func (h *Handler) player(w http.ResponseWriter, r *http.Request, v visitor) {
	p := auth.Principal{TenantID: v.se.TenantID, UserID: v.se.UserID}
	id := r.PathValue("id")
	if !manifest.ValidID(id) {
		problem.Write(w, r, http.StatusNotFound, "not-found", "No such recording.")
		return
	}
	rec, err := h.Meta.Recording(r.Context(), p.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		problem.Write(w, r, http.StatusNotFound, "not-found", "No such recording.")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	// The guard checked view already; checked again here because a playback URL is
	// issued below (SECURITY §10: on every request and every object).
	s, err := h.subject(r, v)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if !s.CanOn(authz.ActView, rec) {
		problem.Write(w, r, http.StatusNotFound, "not-found", "No such recording.")
		return
	}
	token := h.Signer.Token(p.TenantID, p.UserID, rec.ID)
	// Views are audited (SECURITY §20): the playback URL is issued here.
	h.Accounts.Audit(r.Context(), p.TenantID, "recording.viewed", v.user.Email, v.user.ID, auth.ClientIP(r), "recording "+rec.ID)
	pv := playerView{Published: rec.PublishedAt != nil, CanPublish: s.CanOn(authz.ActPublish, rec)}
	if s.CanOn(authz.ActDownload, rec) {
		for _, t := range rec.Tracks {
			pv.Downloads = append(pv.Downloads, download{t.Kind + " (" + t.ID + ")", "/api/v1/recordings/" + rec.ID + "/tracks/" + t.ID + "/media.mp4"})
		}
	}
	pg := page{Title: rec.Title, Visitor: v, Recording: rec, Main: vod.URL(token, rec.ID), Data: pv}
	// The main element plays the master playlist (first video + audio); a second video
	// track plays muted beside it.
	var videos []string
	for _, kind := range []string{"screen", "camera"} {
		for _, t := range rec.Tracks {
			if t.Kind == kind {
				videos = append(videos, t.ID)
			}
		}
	}
	if len(videos) > 1 {
		pg.Second = vod.TrackURL(token, rec.ID, videos[1])
	}
	h.render(w, r, http.StatusOK, "player", pg)
}

// playerView is the player page's controls: publishing and downloads, as allowed.
type playerView struct {
	Published, CanPublish bool
	Downloads             []download
}

type download struct{ Name, URL string }

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	if h.Log != nil {
		h.Log.Error("page failed", "path", r.URL.Path, "err", err)
	}
	problem.Write(w, r, http.StatusInternalServerError, "internal", "The server could not show this page; it has been logged.")
}
