// Package authz decides who may do what (SECURITY §10–13): a grant is (user or group) ×
// role × folder, roles bundle actions, grants inherit down the folder tree and anything
// not granted is denied. Every route is declared here with the rule that guards it, and
// the server's router refuses to register a route without one, so one policy table
// covers every API route and page.
package authz

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/aulacapture/aula/server/auth"
)

// Mux is where routes are registered: *http.ServeMux, or the guarded Router.
type Mux interface {
	Handle(pattern string, h http.Handler)
	HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request))
}

// Kind says what a rule checks.
type Kind int

// Rule kinds.
const (
	// KindPublic routes are open, or authenticate the caller themselves (sign-in steps,
	// signed playback URLs, the OAuth endpoints).
	KindPublic Kind = iota + 1
	// KindSignedIn routes need any authenticated caller of a tenant (the caller's own
	// account pages).
	KindSignedIn
	// KindTenantAdmin routes need the tenant's administrator.
	KindTenantAdmin
	// KindObject routes need Action on the object the path names.
	KindObject
	// KindAccount routes are the caller's own account pages and the sign-in steps: the
	// page checks the session's stage itself (a half-signed-in session may open some).
	KindAccount
)

// Object names what a KindObject rule's path parameter {id} is.
type Object int

// Objects.
const (
	ObjectRecording Object = iota + 1
	ObjectFolder
	// ObjectNewRecording is a recording that may not exist yet: then Action is needed
	// in the folder it is to go into.
	ObjectNewRecording
	// ObjectAnyFolder is satisfied by Action on any folder (lists and creation that
	// name their folder in the body are checked again by the handler).
	ObjectAnyFolder
)

// Rule guards one route.
type Rule struct {
	Kind   Kind
	Action Action
	Object Object
}

// Rule constructors.
var (
	Public      = Rule{Kind: KindPublic}
	SignedIn    = Rule{Kind: KindSignedIn}
	TenantAdmin = Rule{Kind: KindTenantAdmin}
	Account     = Rule{Kind: KindAccount}
)

// On is the rule "action on the object the path names".
func On(a Action, o Object) Rule { return Rule{Kind: KindObject, Action: a, Object: o} }

var (
	policyMu sync.Mutex
	policy   = map[string]Rule{}
)

// Define declares the rule for a route pattern ("METHOD /path/{param}", as given to
// the mux). Packages call it from init for the routes they register.
func Define(pattern string, r Rule) {
	policyMu.Lock()
	defer policyMu.Unlock()
	if _, dup := policy[pattern]; dup {
		panic(fmt.Sprintf("authz: route %q defined twice", pattern))
	}
	policy[pattern] = r
}

// RuleFor is the rule declared for pattern.
func RuleFor(pattern string) (Rule, bool) {
	policyMu.Lock()
	defer policyMu.Unlock()
	r, ok := policy[pattern]
	return r, ok
}

// Patterns lists every declared route pattern, sorted.
func Patterns() []string {
	policyMu.Lock()
	defer policyMu.Unlock()
	out := make([]string, 0, len(policy))
	for p := range policy {
		out = append(out, p)
	}
	sortStrings(out)
	return out
}

func sortStrings(s []string) { sort.Strings(s) }

type principalKey struct{}

// WithPrincipal returns ctx carrying the caller the guard authenticated.
func WithPrincipal(ctx context.Context, p auth.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom is the caller the guard authenticated for this request, if any.
func PrincipalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(auth.Principal)
	return p, ok
}
