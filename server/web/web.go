// Package web serves the server's pages: sign-in, the tenant's recordings and the
// player. Pages are html/template with a little plain JavaScript; hls.js plays HLS where
// the browser has no native HLS.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
	"github.com/aulacapture/aula/server/vod"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// Metadata is what the pages read; *store.Store is one.
type Metadata interface {
	UsersByEmail(ctx context.Context, email string) ([]store.User, error)
	ListRecordings(ctx context.Context, tenantID string, limit, offset int) ([]store.Recording, error)
	Recording(ctx context.Context, tenantID, id string) (store.Recording, error)
}

// Handler serves the pages.
type Handler struct {
	Meta     Metadata
	Sessions *auth.Sessions
	Signer   *vod.Signer
	Log      *slog.Logger
	pages    map[string]*template.Template
}

// HasPlayer reports whether hls.js was embedded (make setup copies it from npm).
func HasPlayer() bool {
	_, err := fs.Stat(staticFS, "static/hls.min.js")
	return err == nil
}

// Register adds the page routes to mux. The server guards every state-changing route
// against cross-origin requests in front of the mux.
func (h *Handler) Register(mux *http.ServeMux) {
	h.pages = map[string]*template.Template{}
	funcs := template.FuncMap{"duration": func(s float64) string {
		d := time.Duration(s * float64(time.Second)).Round(time.Second)
		return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	}}
	for _, name := range []string{"signin", "recordings", "player"} {
		h.pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/recordings", http.StatusSeeOther) })
	mux.HandleFunc("GET /signin", h.signinPage)
	mux.HandleFunc("POST /signin", h.signin)
	mux.HandleFunc("POST /signout", h.signout)
	mux.HandleFunc("GET /recordings", h.signedIn(h.list))
	mux.HandleFunc("GET /recordings/{id}", h.signedIn(h.player))
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
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; worker-src 'self' blob:; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := h.pages[name].ExecuteTemplate(w, name+".html", p); err != nil && h.Log != nil {
		h.Log.Error("render page", "page", name, "err", err)
	}
}

func (h *Handler) signedIn(next func(w http.ResponseWriter, r *http.Request, p auth.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := h.Sessions.Get(r.Context(), r)
		if err != nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		next(w, r, p)
	}
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "signin", page{Title: "Sign in"})
}

// signin checks e-mail and password. Every failure reads the same, so the page does not
// tell which accounts exist.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	fail := func() {
		h.render(w, http.StatusUnauthorized, "signin", page{Title: "Sign in", Email: email, Error: "That e-mail and password do not match an account."})
	}
	if email == "" || password == "" || len(password) > 1024 {
		fail()
		return
	}
	users, err := h.Meta.UsersByEmail(r.Context(), email)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	var match *store.User
	for i := range users {
		if auth.CheckPassword(users[i].PasswordHash, password) == nil {
			match = &users[i]
			break
		}
	}
	if match == nil {
		if len(users) == 0 {
			// Spend the time a real check would, so timing tells nothing either.
			_ = auth.CheckPassword(dummyHash, password)
		}
		fail()
		return
	}
	if err := h.Sessions.Create(r.Context(), w, match.TenantID, match.ID); err != nil {
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/recordings", http.StatusSeeOther)
}

// dummyHash is a valid Argon2id hash of a random password.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7V8Nq7d+v1h3cH1Qk9sR9y4Z0rC1s7Yxw6l3bqkQm2U"

func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	if err := h.Sessions.Delete(r.Context(), w, r); err != nil {
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	recs, err := h.Meta.ListRecordings(r.Context(), p.TenantID, 200, 0)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "recordings", page{Title: "Recordings", SignedIn: true, Recordings: recs})
}

func (h *Handler) player(w http.ResponseWriter, r *http.Request, p auth.Principal) {
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
	token := h.Signer.Token(p.TenantID, p.UserID, rec.ID)
	pg := page{Title: rec.Title, SignedIn: true, Recording: rec, Main: vod.URL(token, rec.ID)}
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
	h.render(w, http.StatusOK, "player", pg)
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	if h.Log != nil {
		h.Log.Error("page failed", "path", r.URL.Path, "err", err)
	}
	problem.Write(w, r, http.StatusInternalServerError, "internal", "The server could not show this page; it has been logged.")
}
