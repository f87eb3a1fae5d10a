package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// Accounts is the part of the metadata store the account pages read; *store.Store is one.
type Accounts interface {
	User(ctx context.Context, tenantID, id string) (store.User, error)
	ListUsers(ctx context.Context, tenantID string) ([]store.User, error)
	UserSessions(ctx context.Context, tenantID, userID string) ([]store.Session, error)
	DeleteUserSession(ctx context.Context, tenantID, userID, id string) error
	RecoveryCodesLeft(ctx context.Context, tenantID, userID string) (int, error)
	WebAuthnCounts(ctx context.Context, tenantID string) (map[string]int, error)
}

// visitor is who a page is shown to: a live session and its user.
type visitor struct {
	se   store.Session
	user store.User
}

// stepPath is the page of each sign-in step.
var stepPath = map[auth.Next]string{
	auth.NextDone:           "/recordings",
	auth.NextTOTP:           "/signin/2fa",
	auth.NextChangePassword: "/account/password",
	auth.NextSetup2FA:       "/account/2fa",
}

// current returns r's session and user, or an error for no live session.
func (h *Handler) current(r *http.Request) (visitor, error) {
	se, err := h.Sessions.Current(r.Context(), r)
	if err != nil {
		return visitor{}, err
	}
	u, err := h.Users.User(r.Context(), se.TenantID, se.UserID)
	if err != nil {
		return visitor{}, err
	}
	return visitor{se: se, user: u}, nil
}

// page guards a page: without a session the visitor goes to sign in; a session that
// has a step left is sent to that step's page, unless this page serves the step.
func (h *Handler) page(steps []string, next func(w http.ResponseWriter, r *http.Request, v visitor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := h.current(r)
		if errors.Is(err, auth.ErrNoSession) || errors.Is(err, store.ErrNotFound) {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		if err != nil {
			h.internal(w, r, err)
			return
		}
		for _, s := range steps {
			if s == v.se.Stage {
				next(w, r, v)
				return
			}
		}
		switch v.se.Stage {
		case store.SessionMFA:
			http.Redirect(w, r, "/signin/2fa", http.StatusSeeOther)
		case store.SessionSetup:
			n, err := h.Accounts.Pending(r.Context(), v.user, true)
			if err != nil {
				h.internal(w, r, err)
				return
			}
			http.Redirect(w, r, stepPath[n], http.StatusSeeOther)
		default:
			http.Redirect(w, r, "/recordings", http.StatusSeeOther)
		}
	}
}

var (
	full      = []string{store.SessionFull}
	fullSetup = []string{store.SessionFull, store.SessionSetup}
	mfa       = []string{store.SessionMFA}
)

// advance starts the session for the step after the one v just finished, rotating the
// token, and sends the browser to that step's page.
func (h *Handler) advance(w http.ResponseWriter, r *http.Request, u store.User, n auth.Next) {
	stage := store.SessionSetup
	switch n {
	case auth.NextDone:
		stage = store.SessionFull
	case auth.NextTOTP:
		stage = store.SessionMFA
	}
	if _, err := h.Sessions.Start(r.Context(), w, r, u.TenantID, u.ID, stage); err != nil {
		h.startRefused(w, r, err)
		return
	}
	http.Redirect(w, r, stepTarget(w, r, n), http.StatusSeeOther)
}

// stepTarget is the page of step n; for the end of the sign-in, the page the visitor
// was sent to sign in from, if one was remembered (next.go).
func stepTarget(w http.ResponseWriter, r *http.Request, n auth.Next) string {
	if n == auth.NextDone {
		return takeNext(w, r)
	}
	return stepPath[n]
}

// signin checks e-mail and password. Every wrong password reads the same, so the page
// does not tell which accounts exist.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	fail := func(status int, msg string) {
		h.render(w, r, status, "signin", page{Title: "Sign in", Email: email, Error: msg})
	}
	if email == "" || password == "" {
		fail(http.StatusUnauthorized, "That e-mail and password do not match an account.")
		return
	}
	u, next, err := h.Accounts.SignIn(r.Context(), email, password, auth.ClientIP(r))
	if err != nil {
		if status, msg, ok := userError(err); ok {
			fail(status, msg)
			return
		}
		h.internal(w, r, err)
		return
	}
	h.advance(w, r, u, next)
}

// userError words the errors of signing in and account changes for people.
func userError(err error) (status int, msg string, ok bool) {
	var te *auth.ThrottledError
	var pe *auth.PolicyError
	switch {
	case errors.As(err, &te):
		return http.StatusTooManyRequests, fmt.Sprintf("Too many failed attempts. Try again in %s.", waitText(te.Wait)), true
	case errors.Is(err, auth.ErrSignIn):
		return http.StatusUnauthorized, "That e-mail and password do not match an account.", true
	case errors.Is(err, auth.ErrLocked):
		return http.StatusForbidden, "This account is locked. Ask an administrator of your organisation to unlock it.", true
	case errors.Is(err, auth.ErrCodeReused):
		return http.StatusUnauthorized, "That code was used already. Wait for the next code and enter it.", true
	case errors.Is(err, auth.ErrBadCode):
		return http.StatusUnauthorized, "That code is not right. Enter the current code from your app, or one of your recovery codes.", true
	case errors.As(err, &pe):
		return http.StatusUnprocessableEntity, pe.Reason, true
	case errors.Is(err, auth.ErrPassword):
		return http.StatusUnauthorized, "Your current password is not right.", true
	case errors.Is(err, auth.ErrSamePassword):
		return http.StatusUnprocessableEntity, "The new password must differ from the current one.", true
	}
	return 0, "", false
}

func waitText(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s <= 1:
		return "a second"
	case s < 90:
		return fmt.Sprintf("%d seconds", s)
	}
	return fmt.Sprintf("%d minutes", (s+59)/60)
}

func (h *Handler) secondFactorPage(w http.ResponseWriter, r *http.Request, v visitor) {
	h.render(w, r, http.StatusOK, "signin2fa", page{Title: "Second step", Email: v.user.Email, Visitor: v})
}

func (h *Handler) secondFactor(w http.ResponseWriter, r *http.Request, v visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	err := h.Accounts.SecondFactor(r.Context(), v.user, r.PostFormValue("code"), auth.ClientIP(r))
	if err != nil {
		if status, msg, ok := userError(err); ok {
			h.render(w, r, status, "signin2fa", page{Title: "Second step", Email: v.user.Email, Visitor: v, Error: msg})
			return
		}
		h.internal(w, r, err)
		return
	}
	n, err := h.Accounts.Pending(r.Context(), v.user, true)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.advance(w, r, v.user, n)
}

func (h *Handler) passwordPage(w http.ResponseWriter, r *http.Request, v visitor) {
	h.renderPassword(w, r, http.StatusOK, v, "")
}

func (h *Handler) renderPassword(w http.ResponseWriter, r *http.Request, status int, v visitor, msg string) {
	rules, err := h.Accounts.Rules(r.Context(), v.user.TenantID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, r, status, "password", page{Title: "Change password", Error: msg, Visitor: v,
		Forced: v.se.Stage == store.SessionSetup, MinLength: rules.MinLength(), MaxLength: auth.MaxPasswordLength})
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, v visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	next := r.PostFormValue("new")
	if next != r.PostFormValue("confirm") {
		h.renderPassword(w, r, http.StatusUnprocessableEntity, v, "The two new passwords differ.")
		return
	}
	err := h.Accounts.ChangePassword(r.Context(), v.user, r.PostFormValue("current"), next, auth.ClientIP(r))
	if err != nil {
		if status, msg, ok := userError(err); ok {
			h.renderPassword(w, r, status, v, msg)
			return
		}
		h.internal(w, r, err)
		return
	}
	// A changed password ends every other session, this one is replaced by a new token.
	if _, err := h.Accounts.RevokeSessions(r.Context(), v.user.TenantID, v.user.ID, v.user.Email, auth.ClientIP(r)); err != nil {
		h.internal(w, r, err)
		return
	}
	u, err := h.Users.User(r.Context(), v.user.TenantID, v.user.ID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	n, err := h.Accounts.Pending(r.Context(), u, true)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.advance(w, r, u, n)
}

func (h *Handler) twoFactorPage(w http.ResponseWriter, r *http.Request, v visitor) {
	h.renderTwoFactor(w, r, http.StatusOK, v, "")
}

func (h *Handler) renderTwoFactor(w http.ResponseWriter, r *http.Request, status int, v visitor, msg string) {
	p := page{Title: "Two-factor sign-in", Visitor: v, Forced: v.se.Stage == store.SessionSetup, Error: msg,
		Flash: r.URL.Query().Get("done")}
	if v.user.HasTOTP {
		n, err := h.Users.RecoveryCodesLeft(r.Context(), v.user.TenantID, v.user.ID)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		p.RecoveryLeft = n
		h.render(w, r, status, "twofactor", p)
		return
	}
	h.renderEnrol(w, r, status, p, "")
}

func (h *Handler) renderEnrol(w http.ResponseWriter, r *http.Request, status int, p page, secret string) {
	var en auth.TOTPEnrolment
	var err error
	if secret == "" {
		en, err = h.Accounts.BeginTOTP(p.Visitor.user)
	} else {
		// Show the same secret again after a wrong code, so the app need not re-scan.
		en, err = auth.TOTPFromSecret(h.Accounts.Issuer, p.Visitor.user.Email, secret)
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	p.Secret, p.QR = en.Secret, template.URL(en.QR)
	h.render(w, r, status, "twofactor", p)
}

func (h *Handler) enrolTOTP(w http.ResponseWriter, r *http.Request, v visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if v.user.HasTOTP {
		http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
		return
	}
	secret := r.PostFormValue("secret")
	if !auth.ValidTOTPSecret(secret) {
		http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
		return
	}
	codes, err := h.Accounts.ConfirmTOTP(r.Context(), v.user, secret, r.PostFormValue("code"), auth.ClientIP(r))
	if err != nil {
		if status, msg, ok := userError(err); ok {
			h.renderEnrol(w, r, status, page{Title: "Two-factor sign-in", Visitor: v, Error: msg,
				Forced: v.se.Stage == store.SessionSetup}, secret)
			return
		}
		h.internal(w, r, err)
		return
	}
	u, err := h.Users.User(r.Context(), v.user.TenantID, v.user.ID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	n, err := h.Accounts.Pending(r.Context(), u, true)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	stage := store.SessionSetup
	if n == auth.NextDone {
		stage = store.SessionFull
	}
	// New token: the session is worth more now.
	if _, err := h.Sessions.Start(r.Context(), w, r, u.TenantID, u.ID, stage); err != nil {
		h.startRefused(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "recovery", page{Title: "Recovery codes", Codes: codes, Next: stepTarget(w, r, n)})
}

func (h *Handler) newRecoveryCodes(w http.ResponseWriter, r *http.Request, v visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := h.Accounts.SecondFactor(r.Context(), v.user, r.PostFormValue("code"), auth.ClientIP(r)); err != nil {
		if status, msg, ok := userError(err); ok {
			n, _ := h.Users.RecoveryCodesLeft(r.Context(), v.user.TenantID, v.user.ID)
			h.render(w, r, status, "twofactor", page{Title: "Two-factor sign-in", Visitor: v, Error: msg, RecoveryLeft: n})
			return
		}
		h.internal(w, r, err)
		return
	}
	codes, err := h.Accounts.NewRecoveryCodes(r.Context(), v.user)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "recovery", page{Title: "Recovery codes", Codes: codes, Next: "/account"})
}

func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request, v visitor) {
	p := page{Title: "Account", Visitor: v}
	if h.Groups != nil {
		view, err := h.accountSSO(r, v)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		p.SSO = view
	}
	h.render(w, r, http.StatusOK, "account", p)
}

// sessionRow is one line of the sessions page.
type sessionRow struct {
	store.Session
	Current bool
}

func (h *Handler) sessionsPage(w http.ResponseWriter, r *http.Request, v visitor) {
	list, err := h.Users.UserSessions(r.Context(), v.user.TenantID, v.user.ID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	rows := make([]sessionRow, 0, len(list))
	for _, se := range list {
		rows = append(rows, sessionRow{Session: se, Current: se.ID == v.se.ID})
	}
	h.render(w, r, http.StatusOK, "sessions", page{Title: "Sessions", Visitor: v, Sessions: rows, Flash: r.URL.Query().Get("done")})
}

func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	err := h.Users.DeleteUserSession(r.Context(), v.user.TenantID, v.user.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		http.Redirect(w, r, "/account/sessions", http.StatusSeeOther)
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.Accounts.Audit(r.Context(), v.user.TenantID, "session.revoked", v.user.Email, v.user.ID, auth.ClientIP(r), "")
	if id == v.se.ID {
		auth.ClearCookie(w)
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account/sessions?done=revoked", http.StatusSeeOther)
}

// signoutEverywhere ends every session of the user, this one included.
func (h *Handler) signoutEverywhere(w http.ResponseWriter, r *http.Request, v visitor) {
	if _, err := h.Accounts.RevokeSessions(r.Context(), v.user.TenantID, v.user.ID, v.user.Email, auth.ClientIP(r)); err != nil {
		h.internal(w, r, err)
		return
	}
	auth.ClearCookie(w)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// keepalive answers the idle-warning script: the request itself touched the session.
func (h *Handler) keepalive(w http.ResponseWriter, r *http.Request, v visitor) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `{"idle_seconds":%d}`, h.idleLeft(r, v))
}

// idleLeft is how many seconds v's session has before its idle timeout.
func (h *Handler) idleLeft(r *http.Request, v visitor) int {
	idle, _, err := h.Sessions.Timeouts(r.Context(), v.se.TenantID)
	if err != nil {
		return 0
	}
	left := idle - time.Since(v.se.LastSeen)
	if abs := time.Until(v.se.ExpiresAt); abs < left {
		left = abs
	}
	return max(0, int(left.Seconds()))
}

// admin guards an administrator's page.
func (h *Handler) admin(next func(w http.ResponseWriter, r *http.Request, v visitor)) http.HandlerFunc {
	return h.page(full, func(w http.ResponseWriter, r *http.Request, v visitor) {
		if v.user.Role != store.RoleAdmin {
			h.render(w, r, http.StatusForbidden, "message", page{Title: "Not allowed", Visitor: v,
				Error: "Only administrators may open this page."})
			return
		}
		next(w, r, v)
	})
}

func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request, v visitor) {
	h.renderUsers(w, r, http.StatusOK, v, page{Flash: r.URL.Query().Get("done")})
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, status int, v visitor, p page) {
	users, err := h.Users.ListUsers(r.Context(), v.user.TenantID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	keys, err := h.Users.WebAuthnCounts(r.Context(), v.user.TenantID)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	p.Title, p.Visitor, p.Users, p.KeyCounts = "Users", v, users, keys
	h.render(w, r, status, "users", p)
}

// userAction is an administrator's change to another account.
func (h *Handler) userAction(w http.ResponseWriter, r *http.Request, v visitor) {
	ctx := r.Context()
	target, err := h.Users.User(ctx, v.user.TenantID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		h.renderUsers(w, r, http.StatusNotFound, v, page{Error: "No such user."})
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	actor := v.user.Email
	done := ""
	var p page
	switch r.PathValue("action") {
	case "lock":
		if target.ID == v.user.ID {
			h.renderUsers(w, r, http.StatusUnprocessableEntity, v, page{Error: "You cannot lock your own account."})
			return
		}
		err, done = h.Accounts.Lock(ctx, target.TenantID, target.ID, actor, "locked by an administrator"), "locked"
	case "unlock":
		err, done = h.Accounts.Unlock(ctx, target.TenantID, target.ID, actor), "unlocked"
	case "force-reset":
		err, done = h.Accounts.ForceReset(ctx, target.TenantID, target.ID, actor), "reset-forced"
	case "revoke-sessions":
		_, err = h.Accounts.RevokeSessions(ctx, target.TenantID, target.ID, actor, auth.ClientIP(r))
		done = "sessions-revoked"
	case "remove-2fa":
		err, done = h.Accounts.RemoveTOTP(ctx, target.TenantID, target.ID, actor), "2fa-removed"
	case "reset-password":
		var pw string
		pw, err = h.Accounts.ResetPassword(ctx, target.TenantID, target.ID, actor)
		p = page{OneTime: pw, Flash: "password-reset", Email: target.Email}
	default:
		h.renderUsers(w, r, http.StatusNotFound, v, page{Error: "No such action."})
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if p.OneTime != "" {
		// Shown once, in this answer only.
		h.renderUsers(w, r, http.StatusOK, v, p)
		return
	}
	if target.ID == v.user.ID && (done == "sessions-revoked" || done == "reset-forced" || done == "2fa-removed") {
		auth.ClearCookie(w)
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/admin/users?done="+done, http.StatusSeeOther)
}
