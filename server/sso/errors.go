package sso

import "errors"

// Errors of configuring and of signing in; the HTTP layer words them for people.
var (
	// ErrNotConfigured means the tenant (or the e-mail domain) has no identity provider.
	ErrNotConfigured = errors.New("single sign-on is not configured")
	// ErrConfig wraps every configuration that cannot work; the message names the field.
	ErrConfig = errors.New("bad single sign-on configuration")
	// ErrFlow means the callback does not belong to a sign-in this browser started in
	// the last minutes: no or a malformed cookie, an unknown, expired or already used
	// state, or a state started in another browser.
	ErrFlow = errors.New("sign-in not started here, expired or already used")
	// ErrProvider means the identity provider refused, could not be reached or gave an
	// answer that does not follow the protocol.
	ErrProvider = errors.New("identity provider failed")
	// ErrToken means the ID token was refused: its signature, issuer, audience, expiry
	// or nonce is wrong.
	ErrToken = errors.New("id token refused")
	// ErrEmailTaken means a first sign-in's e-mail address belongs to an account that is
	// not linked to this identity; accounts are never joined by e-mail.
	ErrEmailTaken = errors.New("e-mail address belongs to another account")
	// ErrBusy means the tenant has too many sign-ins at its provider at once; new ones
	// are refused until some come back or expire.
	ErrBusy = errors.New("too many sign-ins in flight")
	// ErrNoEmail means the provider gave no usable e-mail address for a new account.
	ErrNoEmail = errors.New("identity provider gave no e-mail address")
)
