package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// Errors of signing in and of account changes; the HTTP layer words them for people.
var (
	// ErrSignIn is every failed password check, whichever part was wrong, so the
	// answer does not tell which accounts exist.
	ErrSignIn = errors.New("e-mail and password do not match an account")
	// ErrLocked reports an account an administrator locked; it is told only to whoever
	// knows the password.
	ErrLocked = errors.New("account locked")
	// ErrSamePassword refuses a new password equal to the old one.
	ErrSamePassword = errors.New("new password equals the old one")
)

// Next is what a user must do after a step of signing in.
type Next int

// The steps of signing in, in the order they are asked for.
const (
	NextDone           Next = iota // signed in
	NextTOTP                       // enter a code from the authenticator app or a recovery code
	NextChangePassword             // a forced reset or an expired password
	NextSetup2FA                   // administrators and tenants that require 2FA
)

// AccountStore is the part of the metadata store that accounts need; *store.Store is one.
type AccountStore interface {
	FailureStore
	PolicySource
	TenantFinder
	UsersByEmail(ctx context.Context, email string) ([]store.User, error)
	User(ctx context.Context, tenantID, id string) (store.User, error)
	SetPassword(ctx context.Context, tenantID, userID, hash string, mustChange bool, at time.Time) error
	RehashPassword(ctx context.Context, tenantID, userID, oldHash, newHash string) error
	SetMustChangePassword(ctx context.Context, tenantID, userID string, must bool) error
	SetUserLocked(ctx context.Context, tenantID, userID string, at *time.Time) error
	UserTOTP(ctx context.Context, tenantID, userID string) (sealed []byte, lastStep int64, err error)
	SetUserTOTP(ctx context.Context, tenantID, userID string, sealed []byte) error
	UseTOTPStep(ctx context.Context, tenantID, userID string, step int64) error
	ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes [][]byte) error
	UseRecoveryCode(ctx context.Context, tenantID, userID string, hash []byte) error
	DeleteUserSessions(ctx context.Context, tenantID, userID string) (int, error)
	AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error)
}

// Accounts is signing in with a password and a second factor, and the changes people
// and administrators make to accounts. Every security-relevant outcome is recorded in
// the tenant's audit events.
type Accounts struct {
	Store    AccountStore
	Sealer   Sealer
	Throttle *Throttle
	// Params are the Argon2id parameters of new hashes; zero means DefaultParams. A
	// sign-in whose stored hash is weaker re-hashes the password with these.
	Params Params
	// Issuer names the service in authenticator apps; empty means "Aula".
	Issuer string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Accounts) params() Params {
	if a.Params == (Params{}) {
		return DefaultParams
	}
	return a.Params
}

func (a *Accounts) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// Audit appends an event to the tenant's audit log.
func (a *Accounts) Audit(ctx context.Context, tenantID, action, actor, userID, ip, detail string) error {
	_, err := a.Store.AppendAudit(ctx, store.AuditEvent{TenantID: tenantID, At: a.now(), Action: action,
		Actor: actor, UserID: userID, IP: ip, Detail: detail})
	if err != nil {
		a.log().Error("audit", "action", action, "tenant", tenantID, "err", err)
	}
	return err
}

// dummyHash is a valid Argon2id hash of a random password, checked when no account
// matches, so the time taken tells nothing either.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7V8Nq7d+v1h3cH1Qk9sR9y4Z0rC1s7Yxw6l3bqkQm2U"

// SignIn checks an e-mail address and password from ip and returns the account and
// what it must do next. Refusals are ErrSignIn, ErrLocked or a *ThrottledError.
func (a *Accounts) SignIn(ctx context.Context, email, password, ip string) (store.User, Next, error) {
	if err := a.Throttle.CheckIP(ip); err != nil {
		return store.User{}, 0, err
	}
	if len(password) > 4*MaxPasswordLength {
		return store.User{}, 0, ErrSignIn
	}
	users, err := a.Store.UsersByEmail(ctx, email)
	if err != nil {
		return store.User{}, 0, err
	}
	for _, u := range users {
		if err := a.Throttle.CheckAccount(ctx, u.TenantID, u.ID); err != nil {
			return store.User{}, 0, err
		}
	}
	var match *store.User
	for i := range users {
		if CheckPassword(users[i].PasswordHash, password) == nil {
			match = &users[i]
			break
		}
	}
	if match == nil {
		if len(users) == 0 {
			_ = CheckPassword(dummyHash, password)
		}
		a.Throttle.FailIP(ip)
		for _, u := range users {
			if err := a.fail(ctx, u, ip, "signin.failed", "wrong password"); err != nil {
				return store.User{}, 0, err
			}
		}
		return store.User{}, 0, ErrSignIn
	}
	u := *match
	if u.LockedAt != nil {
		a.Audit(ctx, u.TenantID, "signin.refused", u.Email, u.ID, ip, "account locked")
		return store.User{}, 0, ErrLocked
	}
	if NeedsRehash(u.PasswordHash, a.params()) {
		if h, err := HashPasswordWith(a.params(), password); err == nil {
			if err := a.Store.RehashPassword(ctx, u.TenantID, u.ID, u.PasswordHash, h); err == nil {
				u.PasswordHash = h
			} else if !errors.Is(err, store.ErrNotFound) {
				return store.User{}, 0, err
			}
		}
	}
	if err := a.Throttle.SucceedAccount(ctx, u.TenantID, u.ID); err != nil {
		return store.User{}, 0, err
	}
	next, err := a.Pending(ctx, u, false)
	if err != nil {
		return store.User{}, 0, err
	}
	action := "signin"
	if next == NextTOTP {
		action = "signin.password"
	}
	a.Audit(ctx, u.TenantID, action, u.Email, u.ID, ip, "")
	return u, next, nil
}

// fail counts a failed attempt on u's account and audits it; the failure that reaches
// the hourly limit is audited as a temporary lock.
func (a *Accounts) fail(ctx context.Context, u store.User, ip, action, detail string) error {
	n, err := a.Throttle.FailAccount(ctx, u.TenantID, u.ID)
	if err != nil {
		return err
	}
	a.Audit(ctx, u.TenantID, action, u.Email, u.ID, ip, detail)
	if n == MaxFailuresPerHour {
		a.Audit(ctx, u.TenantID, "account.locked", "system", u.ID, ip,
			fmt.Sprintf("%d failed attempts in an hour; locked until they age", n))
	}
	return nil
}

// Pending returns the first step u still has to take; mfaDone says whether the second
// factor was given in this sign-in.
func (a *Accounts) Pending(ctx context.Context, u store.User, mfaDone bool) (Next, error) {
	has2FA, err := a.Has2FA(ctx, u)
	if err != nil {
		return 0, err
	}
	if has2FA && !mfaDone {
		return NextTOTP, nil
	}
	p, err := a.Store.TenantPolicy(ctx, u.TenantID)
	if err != nil {
		return 0, err
	}
	if u.MustChangePassword || (p.PasswordMaxAge > 0 && a.now().Sub(u.PasswordChangedAt) >= p.PasswordMaxAge) {
		return NextChangePassword, nil
	}
	if !has2FA && (u.Role == store.RoleAdmin || p.Require2FA) {
		return NextSetup2FA, nil
	}
	return NextDone, nil
}

// webauthnCounter is the part of a store that knows WebAuthn credentials; *store.Store
// is one. A store without it has no second factor but TOTP.
type webauthnCounter interface {
	CountWebAuthnCredentials(ctx context.Context, tenantID, userID string) (int, error)
	DeleteUserWebAuthnCredentials(ctx context.Context, tenantID, userID string) (int, error)
}

// Has2FA reports whether u has a second factor: TOTP or a WebAuthn credential (a
// security key or passkey), either of which satisfies "2FA required".
func (a *Accounts) Has2FA(ctx context.Context, u store.User) (bool, error) {
	if u.HasTOTP {
		return true, nil
	}
	wc, ok := a.Store.(webauthnCounter)
	if !ok {
		return false, nil
	}
	n, err := wc.CountWebAuthnCredentials(ctx, u.TenantID, u.ID)
	return n > 0, err
}

// SecondFactor checks a TOTP code or a recovery code of u's. Each TOTP code is
// accepted once and each recovery code once; failures count towards throttling.
func (a *Accounts) SecondFactor(ctx context.Context, u store.User, code, ip string) error {
	if err := a.Throttle.CheckAccount(ctx, u.TenantID, u.ID); err != nil {
		return err
	}
	err := a.checkSecondFactor(ctx, u, code)
	if errors.Is(err, ErrBadCode) || errors.Is(err, ErrCodeReused) {
		if ferr := a.fail(ctx, u, ip, "signin.2fa_failed", err.Error()); ferr != nil {
			return ferr
		}
		return err
	}
	if err != nil {
		return err
	}
	if err := a.Throttle.SucceedAccount(ctx, u.TenantID, u.ID); err != nil {
		return err
	}
	a.Audit(ctx, u.TenantID, "signin", u.Email, u.ID, ip, "second factor")
	return nil
}

func (a *Accounts) checkSecondFactor(ctx context.Context, u store.User, code string) error {
	if _, err := ParseTOTPCode(code); err == nil {
		sealed, last, err := a.Store.UserTOTP(ctx, u.TenantID, u.ID)
		if err != nil {
			return err
		}
		if sealed == nil {
			return ErrBadCode
		}
		secret, err := a.Sealer.Open(ctx, u.TenantID, sealed)
		if err != nil {
			return fmt.Errorf("open totp seed: %w", err)
		}
		step, err := VerifyTOTP(string(secret), code, a.now(), last)
		if err != nil {
			return err
		}
		if err := a.Store.UseTOTPStep(ctx, u.TenantID, u.ID, step); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return ErrCodeReused
			}
			return err
		}
		return nil
	}
	canon, err := ParseRecoveryCode(code)
	if err != nil {
		return ErrBadCode
	}
	if err := a.Store.UseRecoveryCode(ctx, u.TenantID, u.ID, HashRecoveryCode(canon)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrBadCode
		}
		return err
	}
	a.Audit(ctx, u.TenantID, "2fa.recovery_code_used", u.Email, u.ID, "", "")
	return nil
}

// Rules returns the password rules of u's tenant.
func (a *Accounts) Rules(ctx context.Context, tenantID string) (PasswordRules, error) {
	p, err := a.Store.TenantPolicy(ctx, tenantID)
	if err != nil {
		return PasswordRules{}, err
	}
	return PasswordRules{Require2FA: p.Require2FA}, nil
}

// ChangePassword sets u's new password after checking the current one and the
// tenant's rules. The caller ends u's other sessions.
func (a *Accounts) ChangePassword(ctx context.Context, u store.User, current, next, ip string) error {
	if err := a.Throttle.CheckAccount(ctx, u.TenantID, u.ID); err != nil {
		return err
	}
	if CheckPassword(u.PasswordHash, current) != nil {
		if err := a.fail(ctx, u, ip, "password.change_failed", "wrong current password"); err != nil {
			return err
		}
		return ErrPassword
	}
	rules, err := a.Rules(ctx, u.TenantID)
	if err != nil {
		return err
	}
	if err := CheckNewPassword(next, rules, u.Email); err != nil {
		return err
	}
	if NormalizePassword(next) == NormalizePassword(current) {
		return ErrSamePassword
	}
	h, err := HashPasswordWith(a.params(), next)
	if err != nil {
		return err
	}
	if err := a.Store.SetPassword(ctx, u.TenantID, u.ID, h, false, a.now()); err != nil {
		return err
	}
	return a.Audit(ctx, u.TenantID, "password.changed", u.Email, u.ID, ip, "")
}

// ResetPassword gives u a new one-time password that must be changed at the next
// sign-in, and ends u's sessions (an administrator's reset).
func (a *Accounts) ResetPassword(ctx context.Context, tenantID, userID, actor string) (string, error) {
	pw, err := NewPassword()
	if err != nil {
		return "", err
	}
	h, err := HashPasswordWith(a.params(), pw)
	if err != nil {
		return "", err
	}
	if err := a.Store.SetPassword(ctx, tenantID, userID, h, true, a.now()); err != nil {
		return "", err
	}
	if _, err := a.Store.DeleteUserSessions(ctx, tenantID, userID); err != nil {
		return "", err
	}
	return pw, a.Audit(ctx, tenantID, "password.reset", actor, userID, "", "one-time password issued")
}

// ForceReset makes u change the password at the next sign-in and ends u's sessions
// (for evidence of compromise).
func (a *Accounts) ForceReset(ctx context.Context, tenantID, userID, actor string) error {
	if err := a.Store.SetMustChangePassword(ctx, tenantID, userID, true); err != nil {
		return err
	}
	if _, err := a.Store.DeleteUserSessions(ctx, tenantID, userID); err != nil {
		return err
	}
	return a.Audit(ctx, tenantID, "password.reset_forced", actor, userID, "", "")
}

// Lock locks the account and ends its sessions; Unlock reopens it and forgets its
// failed sign-ins. Both are audited.
func (a *Accounts) Lock(ctx context.Context, tenantID, userID, actor, reason string) error {
	now := a.now()
	if err := a.Store.SetUserLocked(ctx, tenantID, userID, &now); err != nil {
		return err
	}
	if _, err := a.Store.DeleteUserSessions(ctx, tenantID, userID); err != nil {
		return err
	}
	return a.Audit(ctx, tenantID, "account.locked", actor, userID, "", reason)
}

// Unlock: see Lock.
func (a *Accounts) Unlock(ctx context.Context, tenantID, userID, actor string) error {
	if err := a.Store.SetUserLocked(ctx, tenantID, userID, nil); err != nil {
		return err
	}
	if err := a.Store.ClearSigninFailures(ctx, tenantID, userID); err != nil {
		return err
	}
	return a.Audit(ctx, tenantID, "account.unlocked", actor, userID, "", "")
}

// RevokeSessions ends every session of the user (sign-out everywhere, or an
// administrator's revocation).
func (a *Accounts) RevokeSessions(ctx context.Context, tenantID, userID, actor, ip string) (int, error) {
	n, err := a.Store.DeleteUserSessions(ctx, tenantID, userID)
	if err != nil {
		return 0, err
	}
	return n, a.Audit(ctx, tenantID, "sessions.revoked", actor, userID, ip, fmt.Sprintf("%d sessions", n))
}

// BeginTOTP makes a TOTP secret for u to enrol; nothing is stored until ConfirmTOTP.
func (a *Accounts) BeginTOTP(u store.User) (TOTPEnrolment, error) {
	issuer := a.Issuer
	if issuer == "" {
		issuer = "Aula"
	}
	return NewTOTP(issuer, u.Email)
}

// ConfirmTOTP stores secret as u's TOTP seed, sealed to the tenant, once code shows the
// authenticator app has it, and returns new recovery codes to show once.
func (a *Accounts) ConfirmTOTP(ctx context.Context, u store.User, secret, code, ip string) ([]string, error) {
	if err := a.Throttle.CheckAccount(ctx, u.TenantID, u.ID); err != nil {
		return nil, err
	}
	_, last, err := a.Store.UserTOTP(ctx, u.TenantID, u.ID)
	if err != nil {
		return nil, err
	}
	step, err := VerifyTOTP(secret, code, a.now(), last)
	if err != nil {
		if ferr := a.fail(ctx, u, ip, "2fa.enrol_failed", err.Error()); ferr != nil {
			return nil, ferr
		}
		return nil, err
	}
	sealed, err := a.Sealer.Seal(ctx, u.TenantID, []byte(secret))
	if err != nil {
		return nil, err
	}
	if err := a.Store.SetUserTOTP(ctx, u.TenantID, u.ID, sealed); err != nil {
		return nil, err
	}
	if err := a.Store.UseTOTPStep(ctx, u.TenantID, u.ID, step); err != nil {
		return nil, err
	}
	codes, err := a.NewRecoveryCodes(ctx, u)
	if err != nil {
		return nil, err
	}
	return codes, a.Audit(ctx, u.TenantID, "2fa.enabled", u.Email, u.ID, ip, "totp")
}

// NewRecoveryCodes replaces u's recovery codes and returns the new ones to show once.
func (a *Accounts) NewRecoveryCodes(ctx context.Context, u store.User) ([]string, error) {
	codes, hashes, err := NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := a.Store.ReplaceRecoveryCodes(ctx, u.TenantID, u.ID, hashes); err != nil {
		return nil, err
	}
	a.Audit(ctx, u.TenantID, "2fa.recovery_codes_issued", u.Email, u.ID, "", "")
	return codes, nil
}

// RemoveTOTP removes u's TOTP, WebAuthn credentials and recovery codes (an
// administrator's reset of a lost authenticator); the next sign-in asks to set 2FA up
// again where it is required.
func (a *Accounts) RemoveTOTP(ctx context.Context, tenantID, userID, actor string) error {
	if err := a.Store.SetUserTOTP(ctx, tenantID, userID, nil); err != nil {
		return err
	}
	if wc, ok := a.Store.(webauthnCounter); ok {
		if _, err := wc.DeleteUserWebAuthnCredentials(ctx, tenantID, userID); err != nil {
			return err
		}
	}
	if err := a.Store.ReplaceRecoveryCodes(ctx, tenantID, userID, nil); err != nil {
		return err
	}
	if _, err := a.Store.DeleteUserSessions(ctx, tenantID, userID); err != nil {
		return err
	}
	return a.Audit(ctx, tenantID, "2fa.removed", actor, userID, "", "")
}
