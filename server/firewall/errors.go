package firewall

import (
	"errors"
	"net/netip"

	"github.com/aulacapture/aula/server/auth"
)

// Unlike most errors of the project, the firewall's refusals and input errors read as
// plain sentences: pages, the API and the command line show them to people as they
// are.
var (
	// ErrDenied means the rules do not allow the address; the error is a *DeniedError.
	ErrDenied = errors.New("address not allowed")
	// ErrInvalid means rules given to Set, or text given to a parser, are malformed.
	ErrInvalid = errors.New("invalid firewall rules")
	// ErrLockout means the rules would refuse the administrator who is setting them.
	ErrLockout = errors.New("rules would lock out their author")
)

// DeniedError is a refusal by the firewall. It wraps ErrDenied and auth.ErrRefused,
// so a sign-in refused by Service.Gate is shown to the user.
type DeniedError struct {
	Addr netip.Addr
	// Country is the address's country, when the rule that refused it was a country
	// rule.
	Country string
}

func (e *DeniedError) Error() string {
	switch {
	case !e.Addr.IsValid():
		return "Your address is unknown, and this organisation allows only some addresses."
	case e.Country != "":
		return "Your address " + e.Addr.String() + " (" + e.Country + ") is not allowed for this organisation."
	}
	return "Your address " + e.Addr.String() + " is not allowed for this organisation."
}

// Unwrap makes the error match ErrDenied and auth.ErrRefused.
func (e *DeniedError) Unwrap() []error { return []error{ErrDenied, auth.ErrRefused} }

// sentenceError is an error whose message is a sentence for people, wrapping a sentinel.
type sentenceError struct {
	msg  string
	kind error
}

func (e *sentenceError) Error() string { return e.msg }
func (e *sentenceError) Unwrap() error { return e.kind }

func invalid(msg string) error { return &sentenceError{msg, ErrInvalid} }
