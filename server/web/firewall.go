package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/firewall"
	"github.com/aulacapture/aula/server/problem"
)

// Firewall is what the firewall page reads and changes; *firewall.Service is one.
type Firewall interface {
	Rules(ctx context.Context, tenantID string) (firewall.Rules, error)
	Set(ctx context.Context, c firewall.Change) (firewall.Rules, error)
	CountriesEnforced() bool
}

var _ Firewall = (*firewall.Service)(nil)

func init() {
	authz.Define("GET /admin/firewall", authz.TenantAdmin)
	authz.Define("POST /admin/firewall", authz.TenantAdmin)
}

// registerFirewall adds the firewall page when h.Firewall is set.
func (h *Handler) registerFirewall(mux authz.Mux) {
	if h.Firewall == nil {
		return
	}
	mux.HandleFunc("GET /admin/firewall", h.admin(h.firewallPage))
	mux.HandleFunc("POST /admin/firewall", h.admin(h.setFirewall))
}

// firewallView is the firewall page's form, as stored or as the administrator typed it.
type firewallView struct {
	Enabled           bool
	Ranges            string
	CountryMode       string
	Countries         string
	Exceptions        string
	CountriesEnforced bool
	YourAddress       string
	UpdatedAt         time.Time
	UpdatedBy         string
}

func (h *Handler) firewallPage(w http.ResponseWriter, r *http.Request, v visitor) {
	rules, err := h.Firewall.Rules(r.Context(), v.user.TenantID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	view := firewallView{Enabled: rules.Enabled, Ranges: firewall.FormatRanges(rules.Ranges), CountryMode: rules.CountryMode,
		Countries: strings.Join(rules.Countries, ", "), Exceptions: firewall.FormatExceptions(rules.Exceptions),
		UpdatedAt: rules.UpdatedAt, UpdatedBy: rules.UpdatedBy}
	flash := ""
	if r.URL.Query().Get("done") == "saved" {
		flash = "saved"
	}
	h.renderFirewall(w, r, http.StatusOK, v, page{Flash: flash}, view)
}

func (h *Handler) renderFirewall(w http.ResponseWriter, r *http.Request, status int, v visitor, p page, view firewallView) {
	view.CountriesEnforced = h.Firewall.CountriesEnforced()
	view.YourAddress = auth.ClientIP(r)
	p.Title, p.Visitor, p.Data = "Firewall", v, view
	h.render(w, r, status, "firewall", p)
}

func (h *Handler) setFirewall(w http.ResponseWriter, r *http.Request, v visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	view := firewallView{Enabled: r.PostFormValue("enabled") == "on", Ranges: r.PostFormValue("ranges"),
		CountryMode: r.PostFormValue("country_mode"), Countries: r.PostFormValue("countries"),
		Exceptions: r.PostFormValue("exceptions")}
	fail := func(msg string) {
		h.renderFirewall(w, r, http.StatusUnprocessableEntity, v, page{Error: msg}, view)
	}
	rules, msg := firewallForm(view)
	if msg != "" {
		fail(msg)
		return
	}
	_, err := h.Firewall.Set(r.Context(), firewall.Change{TenantID: v.user.TenantID, Rules: rules, Actor: v.user.Email,
		ActorUserID: v.user.ID, ActorAddr: auth.ClientAddr(r)})
	if errors.Is(err, firewall.ErrInvalid) || errors.Is(err, firewall.ErrLockout) {
		fail(err.Error())
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/firewall?done=saved", http.StatusSeeOther)
}

// firewallForm reads the page's form; msg, when not empty, is a sentence naming the
// field and line at fault.
func firewallForm(f firewallView) (rules firewall.Rules, msg string) {
	ranges, err := firewall.ParseRangeLines(f.Ranges)
	if err != nil {
		return firewall.Rules{}, "Allowed ranges, " + err.Error() + "."
	}
	mode, err := firewall.ParseCountryMode(f.CountryMode)
	if err != nil {
		return firewall.Rules{}, err.Error()
	}
	countries, err := firewall.ParseCountries(f.Countries)
	if err != nil {
		return firewall.Rules{}, "Countries: " + err.Error() + "."
	}
	if mode == "" && len(countries) > 0 {
		return firewall.Rules{}, "Countries: choose whether to allow or deny them, or clear the list."
	}
	exceptions, err := firewall.ParseExceptionLines(f.Exceptions)
	if err != nil {
		return firewall.Rules{}, "Exceptions, " + err.Error() + "."
	}
	return firewall.Rules{Enabled: f.Enabled, Ranges: ranges, CountryMode: mode, Countries: countries, Exceptions: exceptions}, ""
}

// startRefused answers a failed Sessions.Start: a sign-in the Gate (the firewall)
// refused gets 403 and the refusal's sentence; anything else is an internal error.
func (h *Handler) startRefused(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, auth.ErrRefused) {
		h.render(w, r, http.StatusForbidden, "message", page{Title: "Sign-in refused", Error: err.Error()})
		return
	}
	h.internal(w, r, err)
}

// startRefusedJSON is startRefused for the JSON endpoints, as problem+json.
func (h *Handler) startRefusedJSON(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, auth.ErrRefused) {
		problem.Write(w, r, http.StatusForbidden, "signin-refused", err.Error())
		return
	}
	h.internal(w, r, err)
}
