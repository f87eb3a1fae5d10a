package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/aulacapture/aula/server/authz"
	"io"
	"net/http"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
)

// registerWebAuthn adds the JSON endpoints of security keys and passkeys: registering
// and removing them on the 2FA set-up page, and the second sign-in step with one.
func (h *Handler) registerWebAuthn(mux authz.Mux) {
	if h.Passkeys == nil || h.WebAuthnRP == nil {
		return
	}
	mux.HandleFunc("POST /signin/2fa/webauthn/begin", h.page(mfa, h.webauthnLoginBegin))
	mux.HandleFunc("POST /signin/2fa/webauthn/finish", h.page(mfa, h.webauthnLoginFinish))
	mux.HandleFunc("POST /account/2fa/webauthn/begin", h.page(fullSetup, h.webauthnRegisterBegin))
	mux.HandleFunc("POST /account/2fa/webauthn/finish", h.page(fullSetup, h.webauthnRegisterFinish))
	mux.HandleFunc("POST /account/2fa/webauthn/{id}/remove", h.page(full, h.webauthnRemove))
}

// webauthnOn reports whether security keys can be used at the address r came to.
func (h *Handler) webauthnOn(r *http.Request) (auth.RP, bool) {
	if h.Passkeys == nil || h.WebAuthnRP == nil {
		return auth.RP{}, false
	}
	rp, err := h.WebAuthnRP(r)
	return rp, err == nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// webauthnError answers a JSON endpoint's failure as problem+json, worded for people.
func (h *Handler) webauthnError(w http.ResponseWriter, r *http.Request, err error) {
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		status, msg, _ := userError(err)
		problem.Write(w, r, status, "throttled", msg)
	case errors.Is(err, auth.ErrNoChallenge):
		problem.Write(w, r, http.StatusUnauthorized, "webauthn-expired", "That took too long, or the request was used already. Try again.")
	case errors.Is(err, auth.ErrCloned):
		problem.Write(w, r, http.StatusUnauthorized, "webauthn-cloned", "This security key's counter went back, so a copy of it may exist. It was refused; ask an administrator for help.")
	case errors.Is(err, auth.ErrWebAuthn):
		problem.Write(w, r, http.StatusUnauthorized, "webauthn-refused", "The security key's answer was not accepted. Try again, or use another way.")
	case errors.Is(err, auth.ErrNoPasskey):
		problem.Write(w, r, http.StatusNotFound, "webauthn-none", "You have no security key registered for this address.")
	case errors.Is(err, auth.ErrTooManyPasskeys):
		problem.Write(w, r, http.StatusUnprocessableEntity, "webauthn-too-many", "You have registered as many security keys as allowed. Remove one first.")
	default:
		h.internal(w, r, err)
	}
}

// readBody reads a JSON endpoint's body, at most auth.MaxWebAuthnBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, auth.MaxWebAuthnBody))
}

func (h *Handler) webauthnLoginBegin(w http.ResponseWriter, r *http.Request, v visitor) {
	rp, ok := h.webauthnOn(r)
	if !ok {
		problem.Write(w, r, http.StatusBadRequest, "webauthn-host", "Security keys work only at the server's configured host names.")
		return
	}
	assertion, err := h.Passkeys.BeginLogin(r.Context(), rp, v.user, v.se.ID)
	if err != nil {
		h.webauthnError(w, r, err)
		return
	}
	writeJSON(w, assertion)
}

func (h *Handler) webauthnLoginFinish(w http.ResponseWriter, r *http.Request, v visitor) {
	rp, ok := h.webauthnOn(r)
	if !ok {
		problem.Write(w, r, http.StatusBadRequest, "webauthn-host", "Security keys work only at the server's configured host names.")
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		problem.Write(w, r, http.StatusRequestEntityTooLarge, "too-large", "The request is too large.")
		return
	}
	if err := h.Passkeys.FinishLogin(r.Context(), rp, v.user, v.se.ID, body, auth.ClientIP(r)); err != nil {
		h.webauthnError(w, r, err)
		return
	}
	n, err := h.Accounts.Pending(r.Context(), v.user, true)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.advanceJSON(w, r, v.user, n, nil)
}

// advanceJSON is advance for the JSON endpoints: a new session (new token) for the
// step after n, and the step's page for the script to open after it shows codes, new
// recovery codes if any.
func (h *Handler) advanceJSON(w http.ResponseWriter, r *http.Request, u store.User, n auth.Next, codes []string) {
	stage := store.SessionSetup
	switch n {
	case auth.NextDone:
		stage = store.SessionFull
	case auth.NextTOTP:
		stage = store.SessionMFA
	}
	if _, err := h.Sessions.Start(r.Context(), w, r, u.TenantID, u.ID, stage); err != nil {
		h.startRefusedJSON(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"next": stepTarget(w, r, n), "codes": codes})
}

func (h *Handler) webauthnRegisterBegin(w http.ResponseWriter, r *http.Request, v visitor) {
	rp, ok := h.webauthnOn(r)
	if !ok {
		problem.Write(w, r, http.StatusBadRequest, "webauthn-host", "Security keys work only at the server's configured host names.")
		return
	}
	creation, err := h.Passkeys.BeginRegistration(r.Context(), rp, v.user, v.se.ID)
	if err != nil {
		h.webauthnError(w, r, err)
		return
	}
	writeJSON(w, creation)
}

// registration is what the set-up page's script sends to finish a registration.
type registration struct {
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// parseRegistration decodes a registration strictly: one JSON object with only the
// known members.
func parseRegistration(body []byte) (registration, error) {
	var reg registration
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reg); err != nil {
		return registration{}, err
	}
	if dec.More() || len(reg.Credential) == 0 || reg.Credential[0] != '{' {
		return registration{}, errors.New("registration: trailing data or no credential object")
	}
	return reg, nil
}

func (h *Handler) webauthnRegisterFinish(w http.ResponseWriter, r *http.Request, v visitor) {
	rp, ok := h.webauthnOn(r)
	if !ok {
		problem.Write(w, r, http.StatusBadRequest, "webauthn-host", "Security keys work only at the server's configured host names.")
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		problem.Write(w, r, http.StatusRequestEntityTooLarge, "too-large", "The request is too large.")
		return
	}
	reg, err := parseRegistration(body)
	if err != nil {
		problem.Write(w, r, http.StatusBadRequest, "bad-json", "The request is not a security key registration.")
		return
	}
	had2FA, err := h.Accounts.Has2FA(r.Context(), v.user)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if _, err := h.Passkeys.FinishRegistration(r.Context(), rp, v.user, v.se.ID, reg.Name, reg.Credential, auth.ClientIP(r)); err != nil {
		h.webauthnError(w, r, err)
		return
	}
	// A first second factor comes with recovery codes, shown once by the script, as
	// after setting up TOTP.
	var codes []string
	if !had2FA {
		if codes, err = h.Accounts.NewRecoveryCodes(r.Context(), v.user); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	if v.se.Stage == store.SessionFull {
		writeJSON(w, map[string]any{"next": "/account/2fa?done=webauthn-added", "codes": codes})
		return
	}
	// Setting up a second factor was the step left: go on with a new token, as after TOTP.
	n, err := h.Accounts.Pending(r.Context(), v.user, true)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.advanceJSON(w, r, v.user, n, codes)
}

// webauthnRemove removes one of the visitor's credentials, unless it is the last
// second factor of someone who must have one.
func (h *Handler) webauthnRemove(w http.ResponseWriter, r *http.Request, v visitor) {
	ctx := r.Context()
	list, err := h.Passkeys.List(ctx, v.user)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	id := r.PathValue("id")
	found := false
	for _, c := range list {
		found = found || c.ID == id
	}
	if !found {
		http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
		return
	}
	if !v.user.HasTOTP && len(list) == 1 {
		p, err := h.Accounts.Store.TenantPolicy(ctx, v.user.TenantID)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		if p.Require2FA || v.user.Role == store.RoleAdmin {
			h.renderTwoFactor(w, r, http.StatusUnprocessableEntity, v, "This is your only second factor, which your account must have. Add another first.")
			return
		}
	}
	if err := h.Passkeys.Remove(ctx, v.user, id, auth.ClientIP(r)); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/2fa?done=webauthn-removed", http.StatusSeeOther)
}

// addWebAuthn fills in the security-key part of the second-step and set-up pages.
func (h *Handler) addWebAuthn(r *http.Request, p *page) error {
	rp, ok := h.webauthnOn(r)
	if !ok || p.Visitor.user.ID == "" {
		return nil
	}
	p.WebAuthn = true
	list, err := h.Passkeys.List(r.Context(), p.Visitor.user)
	if err != nil {
		return err
	}
	p.Passkeys = list
	for _, c := range list {
		p.HasPasskey = p.HasPasskey || c.RPID == rp.ID
	}
	return nil
}
