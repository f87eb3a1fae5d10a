package web

import (
	"context"
	"errors"
	"github.com/aulacapture/aula/server/authz"
	"net/http"
	"strings"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/sso"
	"github.com/aulacapture/aula/server/store"
)

// Groups is the part of the metadata store the groups page reads; *store.Store is one.
type Groups interface {
	ListGroups(ctx context.Context, tenantID string) ([]store.Group, error)
	GroupMembers(ctx context.Context, tenantID, groupID string) ([]store.User, error)
	UserGroups(ctx context.Context, tenantID, userID string) ([]store.Group, error)
	UserSSOIdentities(ctx context.Context, tenantID, userID string) ([]store.SSOIdentity, error)
}

// ssoView is what the single sign-on pages show.
type ssoView struct {
	Config      sso.Config
	Configured  bool
	RedirectURI string
	Continue    string // the provider's URL, for the page that sends the browser there
	Groups      []groupRow
	// For the account page: the provider accounts linked to the visitor, the visitor's
	// groups, and whether the account has a password at all.
	Identities  []store.SSOIdentity
	MyGroups    []store.Group
	HasPassword bool
}

type groupRow struct {
	store.Group
	Members []store.User
}

// registerSSO adds the single sign-on routes when the server has SSO.
func (h *Handler) registerSSO(mux authz.Mux) {
	if h.SSO == nil {
		return
	}
	mux.HandleFunc("GET /signin/sso", h.ssoStart)
	mux.HandleFunc("POST /signin/sso", h.ssoStart)
	mux.HandleFunc("GET /signin/sso/callback", h.ssoCallback)
	mux.HandleFunc("GET /admin/sso", h.admin(h.ssoPage))
	mux.HandleFunc("POST /admin/sso", h.admin(h.ssoSave))
	mux.HandleFunc("POST /admin/sso/remove", h.admin(h.ssoRemove))
	mux.HandleFunc("GET /admin/groups", h.admin(h.groupsPage))
}

// ssoStart sends the browser to the provider of the tenant whose e-mail domain the
// visitor typed (or linked to, with ?email= or ?domain=). From the sign-in form (a POST)
// it answers a page that moves on by itself, because the pages' form-action policy
// would stop a redirect to another site.
func (h *Handler) ssoStart(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	email := strings.TrimSpace(r.FormValue("email"))
	if email == "" {
		email = strings.TrimSpace(r.FormValue("domain"))
	}
	fail := func(status int, msg string) {
		h.render(w, r, status, "signin", page{Title: "Sign in", SSOEmail: email, Error: msg})
	}
	if email == "" {
		fail(http.StatusBadRequest, "Enter your e-mail address to sign in with your organisation.")
		return
	}
	tenant, err := h.SSO.TenantForEmail(r.Context(), email)
	if errors.Is(err, sso.ErrNotConfigured) {
		fail(http.StatusNotFound, "No organisation here signs in people with that address. Sign in with your password instead.")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	redirect, err := h.RedirectURI(r)
	if err != nil {
		fail(http.StatusBadRequest, "Single sign-on works only at the server's configured addresses; this is not one of them.")
		return
	}
	to, err := h.SSO.Begin(r.Context(), w, tenant, redirect)
	if errors.Is(err, sso.ErrBusy) {
		h.logSSO(r, err)
		fail(http.StatusTooManyRequests, "Too many sign-ins are under way for your organisation. Try again in a few minutes.")
		return
	}
	if errors.Is(err, sso.ErrProvider) {
		h.logSSO(r, err)
		fail(http.StatusBadGateway, "Your organisation's sign-in service does not answer. Try again later.")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if r.Method == http.MethodGet {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "ssocontinue", page{Title: "Signing in", SSO: &ssoView{Continue: to}})
}

// ssoCallback is where the provider sends the browser back.
func (h *Handler) ssoCallback(w http.ResponseWriter, r *http.Request) {
	sso.ClearCookie(w)
	u, err := h.SSO.Finish(r.Context(), r, auth.ClientIP(r))
	if err != nil {
		status, msg := ssoError(err)
		if status == 0 {
			h.internal(w, r, err)
			return
		}
		h.logSSO(r, err)
		h.render(w, r, status, "signin", page{Title: "Sign in", Error: msg})
		return
	}
	// A new session with a new token, the tenant's timeouts, as after a password.
	if _, err := h.Sessions.Start(r.Context(), w, r, u.TenantID, u.ID, store.SessionFull); err != nil {
		h.startRefused(w, r, err)
		return
	}
	http.Redirect(w, r, takeNext(w, r), http.StatusSeeOther)
}

// ssoError words a refused single sign-on for people; 0 means an internal error.
func ssoError(err error) (int, string) {
	switch {
	case errors.Is(err, sso.ErrFlow):
		return http.StatusBadRequest, "This sign-in was not started in this browser, took more than 10 minutes, or was used already. Start again."
	case errors.Is(err, sso.ErrToken):
		return http.StatusUnauthorized, "The answer of your organisation's sign-in service could not be verified, so you are not signed in. Tell your administrator."
	case errors.Is(err, sso.ErrProvider):
		return http.StatusBadGateway, "Your organisation's sign-in service refused or failed. Start again, or ask your administrator."
	case errors.Is(err, sso.ErrEmailTaken):
		return http.StatusConflict, "An account with your e-mail address exists here but is not linked to your organisation's sign-in. An administrator can link it."
	case errors.Is(err, sso.ErrNoEmail):
		return http.StatusUnprocessableEntity, "Your organisation's sign-in service did not tell us your e-mail address, which a new account needs. Tell your administrator."
	case errors.Is(err, sso.ErrNotConfigured):
		return http.StatusNotFound, "Single sign-on is no longer set up for your organisation. Sign in with your password."
	case errors.Is(err, auth.ErrLocked):
		return http.StatusForbidden, "This account is locked. Ask an administrator of your organisation to unlock it."
	}
	return 0, ""
}

func (h *Handler) logSSO(r *http.Request, err error) {
	if h.Log != nil {
		h.Log.Warn("single sign-on refused", "path", r.URL.Path, "err", err)
	}
}

func (h *Handler) ssoPage(w http.ResponseWriter, r *http.Request, v visitor) {
	h.renderSSO(w, r, http.StatusOK, v, page{Flash: r.URL.Query().Get("done")}, nil)
}

// renderSSO shows the tenant's configuration, or form when a submitted one was refused.
func (h *Handler) renderSSO(w http.ResponseWriter, r *http.Request, status int, v visitor, p page, form *sso.Config) {
	view := &ssoView{}
	c, err := h.SSO.Config(r.Context(), v.user.TenantID)
	switch {
	case err == nil:
		view.Config, view.Configured = c, true
	case !errors.Is(err, sso.ErrNotConfigured):
		h.internal(w, r, err)
		return
	}
	if form != nil {
		view.Config = *form
		view.Config.ClientSecret = ""
	}
	if uri, err := h.RedirectURI(r); err == nil {
		view.RedirectURI = uri
	}
	p.Title, p.Visitor, p.SSO = "Single sign-on", v, view
	h.render(w, r, status, "sso", p)
}

func (h *Handler) ssoSave(w http.ResponseWriter, r *http.Request, v visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 32<<10)
	c := sso.Config{
		Issuer:       r.PostFormValue("issuer"),
		ClientID:     r.PostFormValue("client_id"),
		ClientSecret: r.PostFormValue("client_secret"),
		Scopes:       strings.Fields(r.PostFormValue("scopes")),
		GroupClaim:   r.PostFormValue("group_claim"),
		EmailDomain:  r.PostFormValue("email_domain"),
	}
	_, err := h.SSO.Configure(r.Context(), v.user.TenantID, c, true, v.user.Email)
	switch {
	case errors.Is(err, sso.ErrConfig):
		h.renderSSO(w, r, http.StatusUnprocessableEntity, v, page{Error: "Not saved: " + strings.TrimPrefix(err.Error(), sso.ErrConfig.Error()+": ") + "."}, &c)
		return
	case errors.Is(err, sso.ErrProvider):
		h.logSSO(r, err)
		h.renderSSO(w, r, http.StatusBadGateway, v, page{Error: "Not saved: the issuer's discovery document (ISSUER/.well-known/openid-configuration) could not be read or does not name that issuer."}, &c)
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/sso?done=saved", http.StatusSeeOther)
}

func (h *Handler) ssoRemove(w http.ResponseWriter, r *http.Request, v visitor) {
	err := h.SSO.Remove(r.Context(), v.user.TenantID, v.user.Email)
	if err != nil && !errors.Is(err, sso.ErrNotConfigured) {
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/sso?done=removed", http.StatusSeeOther)
}

func (h *Handler) groupsPage(w http.ResponseWriter, r *http.Request, v visitor) {
	groups, err := h.Groups.ListGroups(r.Context(), v.user.TenantID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	view := &ssoView{}
	for _, g := range groups {
		members, err := h.Groups.GroupMembers(r.Context(), v.user.TenantID, g.ID)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		view.Groups = append(view.Groups, groupRow{Group: g, Members: members})
	}
	h.render(w, r, http.StatusOK, "groups", page{Title: "Groups", Visitor: v, SSO: view})
}

// accountSSO is the account page's part about single sign-on and groups.
func (h *Handler) accountSSO(r *http.Request, v visitor) (*ssoView, error) {
	ids, err := h.Groups.UserSSOIdentities(r.Context(), v.user.TenantID, v.user.ID)
	if err != nil {
		return nil, err
	}
	groups, err := h.Groups.UserGroups(r.Context(), v.user.TenantID, v.user.ID)
	if err != nil {
		return nil, err
	}
	return &ssoView{Identities: ids, MyGroups: groups, HasPassword: v.user.PasswordHash != ""}, nil
}
