package oauth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// page is what the templates show.
type page struct {
	Title    string
	Message  string
	Email    string
	ID       string
	Redirect string
	UserCode string
	Error    string
	SignIn   bool
	// Next is this page's own address, for the sign-in link to return to.
	Next string
}

func (s *Server) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self' http://127.0.0.1:* http://[::1]:*; base-uri 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.pages[name].ExecuteTemplate(w, "layout", p); err != nil {
		s.opts.Log.Error("render oauth page", "page", name, "err", err)
	}
}

// signedIn returns the signed-in user, or answers with a page that asks to sign in.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	p, err := s.opts.Sessions.Get(r.Context(), r)
	if errors.Is(err, auth.ErrNoSession) || errors.Is(err, auth.ErrStage) {
		s.render(w, http.StatusUnauthorized, "message", page{Title: "Sign in first", SignIn: true, Next: returnPath(r),
			Message: "Sign in to Aula in this browser; you come back to this page after signing in, to let the recorder upload as you."})
		return store.User{}, false
	}
	if err != nil {
		s.internal(w, err)
		return store.User{}, false
	}
	u, err := s.opts.Store.User(r.Context(), p.TenantID, p.UserID)
	if err != nil {
		s.internal(w, err)
		return store.User{}, false
	}
	if !mayRecord(u) {
		s.render(w, http.StatusForbidden, "message", page{Title: "Not allowed",
			Message: "Your account may watch recordings but not make them, so it cannot sign in the recorder. Ask an administrator for the creator role."})
		return store.User{}, false
	}
	return u, true
}

// returnPath is the page to come back to after signing in: r's own page, and for a form
// that was sent without a session, the page that shows the same request again.
func returnPath(r *http.Request) string {
	switch {
	case r.Method == http.MethodGet:
		return r.URL.RequestURI()
	case r.URL.Path == consentPath:
		return consentPath + "?id=" + url.QueryEscape(r.PostFormValue("id"))
	case r.URL.Path == DevicePath:
		if code, ok := NormalizeUserCode(r.PostFormValue("user_code")); ok {
			return DevicePath + "?user_code=" + url.QueryEscape(code)
		}
	}
	return r.URL.Path
}

// mayRecord reports whether the user may let a recorder upload as them: viewers may not
// (least privilege, SECURITY §13).
func mayRecord(u store.User) bool { return u.Role == store.RoleCreator || u.Role == store.RoleAdmin }

func (s *Server) internal(w http.ResponseWriter, err error) {
	s.opts.Log.Error("oauth page", "err", err)
	s.render(w, http.StatusInternalServerError, "message", page{Title: "Something went wrong",
		Message: "The server could not finish this step. Try again in a moment."})
}

// pending finds the request the consent page is about, or answers why there is none.
func (s *Server) pending(w http.ResponseWriter, r *http.Request, id string) (store.AuthRequest, bool) {
	a, err := s.opts.Store.AuthRequestByID(r.Context(), id)
	if err == nil && !a.Done && s.opts.Now().Before(a.ExpiresAt) {
		return a, true
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, err)
		return a, false
	}
	s.render(w, http.StatusBadRequest, "message", page{Title: "Request expired",
		Message: "This sign-in request is unknown, used or expired. Start the sign-in again from the recorder."})
	return a, false
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request) {
	u, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	a, ok := s.pending(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	redirect := a.RedirectURI
	if ru, err := url.Parse(a.RedirectURI); err == nil {
		redirect = ru.Host
	}
	s.render(w, http.StatusOK, "consent", page{Title: "Allow the recorder", Email: u.Email, ID: a.ID, Redirect: redirect})
}

func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	u, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	a, ok := s.pending(w, r, r.PostFormValue("id"))
	if !ok {
		return
	}
	if r.PostFormValue("decision") != "allow" {
		_ = s.opts.Store.DeleteAuthRequest(r.Context(), a.ID)
		op.AuthRequestError(w, r, authRequest{a}, oidc.ErrAccessDenied().WithDescription("the user said no"), s.provider)
		return
	}
	if err := s.opts.Store.ApproveAuthRequest(r.Context(), a.ID, u.TenantID, u.ID, s.opts.Now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.pending(w, r, "")
			return
		}
		s.internal(w, err)
		return
	}
	s.audit(r, u, "oauth.authorized", "desktop recorder, authorization code to "+a.RedirectURI)
	// op's callback makes the code and sends the browser to the loopback redirect.
	http.Redirect(w, r, callbackPath+"?id="+url.QueryEscape(a.ID), http.StatusSeeOther)
}

// NormalizeUserCode reads a user code as a person types it: any case, with or without
// the dash, spaces around. It returns the stored form, "BCDF-GHJK", and false for
// anything that cannot be one.
func NormalizeUserCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case strings.ContainsRune(op.CharSetBase20, r):
			if b.Len() == 8 {
				return "", false
			}
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != 8 {
		return "", false
	}
	c := b.String()
	return c[:4] + "-" + c[4:], true
}

func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) {
	u, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	code, _ := NormalizeUserCode(r.URL.Query().Get("user_code"))
	s.render(w, http.StatusOK, "device", page{Title: "Sign in a device", Email: u.Email, UserCode: code})
}

// Wrong user codes a user may type in guessWindow before the device page makes them
// wait: user codes have about 34 bits, and a guessed one would sign a stranger's device
// in as the guesser, so this only keeps the page from being a guessing oracle.
const (
	maxGuesses  = 5
	guessWindow = 10 * time.Minute
)

// guessed records a wrong code of the user and reports whether they typed too many.
func (s *Server) guessed(userID string, wrong bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	recent := s.guesses[userID][:0]
	for _, at := range s.guesses[userID] {
		if now.Sub(at) < guessWindow {
			recent = append(recent, at)
		}
	}
	if wrong {
		recent = append(recent, now)
	}
	if len(recent) == 0 {
		delete(s.guesses, userID)
	} else {
		s.guesses[userID] = recent
	}
	return len(recent) >= maxGuesses
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	u, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	if s.guessed(u.ID, false) {
		s.render(w, http.StatusTooManyRequests, "device", page{Title: "Sign in a device", Email: u.Email,
			Error: "Too many wrong codes. Wait ten minutes, then type the code your device shows."})
		return
	}
	code, ok := NormalizeUserCode(r.PostFormValue("user_code"))
	retry := func(msg string) {
		s.guessed(u.ID, true)
		s.render(w, http.StatusBadRequest, "device", page{Title: "Sign in a device", Email: u.Email, UserCode: code, Error: msg})
	}
	if !ok {
		retry("A code has 8 letters, such as BCDF-GHJK. Type the code your device shows.")
		return
	}
	d, err := s.opts.Store.DeviceCodeByUserCode(r.Context(), code)
	switch {
	case errors.Is(err, store.ErrNotFound):
		retry("No device is waiting with this code. Check it, or start the sign-in again on the device.")
		return
	case err != nil:
		s.internal(w, err)
		return
	case d.State != store.DevicePending || !s.opts.Now().Before(d.ExpiresAt):
		retry("This code was used or has expired. Start the sign-in again on the device.")
		return
	}
	approve := r.PostFormValue("decision") == "allow"
	if err := s.opts.Store.DecideDeviceCode(r.Context(), code, approve, u.TenantID, u.ID, s.opts.Now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			retry("This code was used or has expired. Start the sign-in again on the device.")
			return
		}
		s.internal(w, err)
		return
	}
	msg := "The device is signed in as " + u.Email + ". You may close this page."
	action := "oauth.device_authorized"
	if !approve {
		action = "oauth.device_denied"
	}
	s.audit(r, u, action, "desktop recorder, device grant, user code "+code)
	if !approve {
		msg = "The device was refused. You may close this page."
	}
	s.render(w, http.StatusOK, "message", page{Title: "Done", Message: msg})
}

// audit records a sign-in of a client for the user (SECURITY §20); a failure to write it
// is logged, not shown: the approval already happened.
func (s *Server) audit(r *http.Request, u store.User, action, detail string) {
	if _, err := s.opts.Store.AppendAudit(r.Context(), store.AuditEvent{TenantID: u.TenantID, At: s.opts.Now(), Action: action,
		Actor: u.Email, UserID: u.ID, IP: auth.ClientIP(r), Detail: detail}); err != nil {
		s.opts.Log.Error("audit", "action", action, "err", err)
	}
}
