package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/aulacapture/aula/server/store"
)

// WebAuthn (security keys and passkeys) is the phishing-resistant second factor: the
// browser signs the server's challenge with a key bound to the relying party ID (the
// host name), and the server checks the signature, the exact origin and the
// authenticator's signature counter.

// Errors of WebAuthn ceremonies.
var (
	// ErrWebAuthn is a response that does not verify: wrong origin, relying party,
	// challenge, signature or credential.
	ErrWebAuthn = errors.New("security key response not accepted")
	// ErrNoChallenge is a finish without a begin in this session, a second finish of one
	// begin (a replay), or a begin older than the challenge lifetime.
	ErrNoChallenge = errors.New("no security key request in progress, or it expired")
	// ErrCloned is an assertion whose signature counter did not rise: a copy of the key
	// may exist, so it is refused.
	ErrCloned = errors.New("security key signature counter went back")
	// ErrNoPasskey is a sign-in with a security key by a user who has none for this host.
	ErrNoPasskey = errors.New("no security key registered for this address")
	// ErrTooManyPasskeys refuses a registration beyond MaxPasskeys.
	ErrTooManyPasskeys = errors.New("too many security keys")
)

// Limits of WebAuthn.
const (
	// ChallengeTTL is how long a begun ceremony may take.
	ChallengeTTL = 5 * time.Minute
	// MaxPasskeys is the most credentials one user may register.
	MaxPasskeys = 20
	// MaxWebAuthnBody caps the JSON a browser sends to finish a ceremony.
	MaxWebAuthnBody = 64 << 10
	maxPasskeyName  = 64
)

// RP is the relying party a ceremony runs for: ID is the host name the browser came to
// (one of the configured hosts) and Origin the exact origin, https://HOST:PORT.
type RP struct {
	ID     string
	Origin string
}

// WebAuthnStore is the part of the metadata store that WebAuthn needs; *store.Store is one.
type WebAuthnStore interface {
	WebAuthnCredentials(ctx context.Context, tenantID, userID string) ([]store.WebAuthnCredential, error)
	AddWebAuthnCredential(ctx context.Context, c store.WebAuthnCredential) (store.WebAuthnCredential, error)
	DeleteWebAuthnCredential(ctx context.Context, tenantID, userID, id string) error
	UseWebAuthnCredential(ctx context.Context, tenantID, userID, id string, signCount uint32, at time.Time) error
	PutWebAuthnChallenge(ctx context.Context, c store.WebAuthnChallenge) error
	TakeWebAuthnChallenge(ctx context.Context, tenantID, sessionID, kind string) (store.WebAuthnChallenge, error)
}

// Passkeys registers security keys and passkeys and checks them at sign-in. Each
// ceremony's challenge is stored on the server, bound to the session and user that
// began it, used once and valid for ChallengeTTL.
type Passkeys struct {
	Store WebAuthnStore
	// Accounts throttles failed sign-ins and records the audit events.
	Accounts *Accounts
	// Name is the relying party's name shown by authenticators; empty means "Aula".
	Name string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (p *Passkeys) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// webauthnUser is a user as go-webauthn sees one: the user handle is the user's ID.
type webauthnUser struct {
	u     store.User
	creds []webauthn.Credential
}

func (w webauthnUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w webauthnUser) WebAuthnName() string                       { return w.u.Email }
func (w webauthnUser) WebAuthnDisplayName() string                { return w.u.Email }
func (w webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func (p *Passkeys) relyingParty(rp RP) (*webauthn.WebAuthn, error) {
	if rp.ID == "" || !strings.HasPrefix(rp.Origin, "https://") {
		return nil, fmt.Errorf("webauthn relying party %q at %q not usable", rp.ID, rp.Origin)
	}
	name := p.Name
	if name == "" {
		name = "Aula"
	}
	return webauthn.New(&webauthn.Config{
		RPID: rp.ID, RPDisplayName: name, RPOrigins: []string{rp.Origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ChallengeTTL},
			Registration: webauthn.TimeoutConfig{Timeout: ChallengeTTL},
		},
	})
}

// user loads u's credentials registered for rp, with the stored rows by credential ID.
func (p *Passkeys) user(ctx context.Context, rp RP, u store.User) (webauthnUser, map[string]store.WebAuthnCredential, error) {
	rows, err := p.Store.WebAuthnCredentials(ctx, u.TenantID, u.ID)
	if err != nil {
		return webauthnUser{}, nil, err
	}
	wu := webauthnUser{u: u}
	byID := map[string]store.WebAuthnCredential{}
	for _, r := range rows {
		if r.RPID != rp.ID {
			continue
		}
		var c webauthn.Credential
		if len(r.Record) > 0 {
			if err := json.Unmarshal(r.Record, &c); err != nil {
				return webauthnUser{}, nil, fmt.Errorf("webauthn credential %s: %w", r.ID, err)
			}
		}
		// The columns are authoritative for what is checked.
		c.ID, c.PublicKey, c.Authenticator.SignCount = r.CredentialID, r.PublicKey, r.SignCount
		wu.creds = append(wu.creds, c)
		byID[string(r.CredentialID)] = r
	}
	return wu, byID, nil
}

// List returns u's credentials, for the set-up page.
func (p *Passkeys) List(ctx context.Context, u store.User) ([]store.WebAuthnCredential, error) {
	return p.Store.WebAuthnCredentials(ctx, u.TenantID, u.ID)
}

// Has reports whether u has a credential registered for rp.
func (p *Passkeys) Has(ctx context.Context, rp RP, u store.User) (bool, error) {
	wu, _, err := p.user(ctx, rp, u)
	return len(wu.creds) > 0, err
}

func (p *Passkeys) putChallenge(ctx context.Context, u store.User, sessionID, kind string, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	return p.Store.PutWebAuthnChallenge(ctx, store.WebAuthnChallenge{TenantID: u.TenantID, SessionID: sessionID,
		Kind: kind, UserID: u.ID, Data: data, ExpiresAt: p.now().Add(ChallengeTTL)})
}

// takeChallenge returns and forgets the session's challenge of kind, which must be u's
// and not expired.
func (p *Passkeys) takeChallenge(ctx context.Context, u store.User, sessionID, kind string) (webauthn.SessionData, error) {
	ch, err := p.Store.TakeWebAuthnChallenge(ctx, u.TenantID, sessionID, kind)
	if errors.Is(err, store.ErrNotFound) {
		return webauthn.SessionData{}, ErrNoChallenge
	}
	if err != nil {
		return webauthn.SessionData{}, err
	}
	if ch.UserID != u.ID || !p.now().Before(ch.ExpiresAt) {
		return webauthn.SessionData{}, ErrNoChallenge
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(ch.Data, &sd); err != nil {
		return webauthn.SessionData{}, fmt.Errorf("webauthn challenge: %w", err)
	}
	return sd, nil
}

// BeginRegistration starts registering a new credential of u's, in the session
// sessionID, and returns the options for navigator.credentials.create.
func (p *Passkeys) BeginRegistration(ctx context.Context, rp RP, u store.User, sessionID string) (*protocol.CredentialCreation, error) {
	wa, err := p.relyingParty(rp)
	if err != nil {
		return nil, err
	}
	all, err := p.Store.WebAuthnCredentials(ctx, u.TenantID, u.ID)
	if err != nil {
		return nil, err
	}
	if len(all) >= MaxPasskeys {
		return nil, ErrTooManyPasskeys
	}
	wu, _, err := p.user(ctx, rp, u)
	if err != nil {
		return nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range wu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, sd, err := wa.BeginRegistration(wu, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	if err := p.putChallenge(ctx, u, sessionID, "register", sd); err != nil {
		return nil, err
	}
	return creation, nil
}

// ParseCreation parses a browser's answer to navigator.credentials.create, as JSON
// with base64url members, refusing more than MaxWebAuthnBody bytes.
func ParseCreation(body []byte) (*protocol.ParsedCredentialCreationData, error) {
	if len(body) > MaxWebAuthnBody {
		return nil, ErrWebAuthn
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWebAuthn, err)
	}
	return parsed, nil
}

// ParseAssertion parses a browser's answer to navigator.credentials.get, as JSON with
// base64url members, refusing more than MaxWebAuthnBody bytes.
func ParseAssertion(body []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(body) > MaxWebAuthnBody {
		return nil, ErrWebAuthn
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWebAuthn, err)
	}
	return parsed, nil
}

// PasskeyName is the name a user gave a credential, trimmed and cut to 64 characters;
// empty becomes "Security key".
func PasskeyName(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	if r := []rune(s); len(r) > maxPasskeyName {
		s = string(r[:maxPasskeyName])
	}
	if s == "" {
		s = "Security key"
	}
	return s
}

// FinishRegistration checks the browser's answer (body) to the session's registration
// challenge and stores the new credential under name.
func (p *Passkeys) FinishRegistration(ctx context.Context, rp RP, u store.User, sessionID, name string, body []byte, ip string) (store.WebAuthnCredential, error) {
	wa, err := p.relyingParty(rp)
	if err != nil {
		return store.WebAuthnCredential{}, err
	}
	sd, err := p.takeChallenge(ctx, u, sessionID, "register")
	if err != nil {
		return store.WebAuthnCredential{}, err
	}
	parsed, err := ParseCreation(body)
	if err != nil {
		return store.WebAuthnCredential{}, err
	}
	wu, _, err := p.user(ctx, rp, u)
	if err != nil {
		return store.WebAuthnCredential{}, err
	}
	cred, err := wa.CreateCredential(wu, sd, parsed)
	if err != nil {
		p.Accounts.Audit(ctx, u.TenantID, "2fa.enrol_failed", u.Email, u.ID, ip, "webauthn: "+errText(err))
		return store.WebAuthnCredential{}, fmt.Errorf("%w: %v", ErrWebAuthn, err)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return store.WebAuthnCredential{}, err
	}
	var transports []string
	for _, t := range cred.Transport {
		if s := string(t); s != "" && !strings.Contains(s, ",") && len(transports) < 8 {
			transports = append(transports, s)
		}
	}
	row, err := p.Store.AddWebAuthnCredential(ctx, store.WebAuthnCredential{TenantID: u.TenantID, UserID: u.ID,
		CredentialID: cred.ID, RPID: rp.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		Transports: transports, Name: PasskeyName(name), Record: record, CreatedAt: p.now()})
	if errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrInvalid) {
		return store.WebAuthnCredential{}, fmt.Errorf("%w: %v", ErrWebAuthn, err)
	}
	if err != nil {
		return store.WebAuthnCredential{}, err
	}
	return row, p.Accounts.Audit(ctx, u.TenantID, "2fa.enabled", u.Email, u.ID, ip, "webauthn: "+row.Name)
}

// Remove deletes u's credential id.
func (p *Passkeys) Remove(ctx context.Context, u store.User, id, ip string) error {
	if err := p.Store.DeleteWebAuthnCredential(ctx, u.TenantID, u.ID, id); err != nil {
		return err
	}
	return p.Accounts.Audit(ctx, u.TenantID, "2fa.removed", u.Email, u.ID, ip, "webauthn credential "+id)
}

// BeginLogin starts the second step of u's sign-in with a security key, in the
// half-signed-in session sessionID, and returns the options for
// navigator.credentials.get.
func (p *Passkeys) BeginLogin(ctx context.Context, rp RP, u store.User, sessionID string) (*protocol.CredentialAssertion, error) {
	wa, err := p.relyingParty(rp)
	if err != nil {
		return nil, err
	}
	wu, _, err := p.user(ctx, rp, u)
	if err != nil {
		return nil, err
	}
	if len(wu.creds) == 0 {
		return nil, ErrNoPasskey
	}
	assertion, sd, err := wa.BeginLogin(wu)
	if err != nil {
		return nil, fmt.Errorf("begin webauthn login: %w", err)
	}
	if err := p.putChallenge(ctx, u, sessionID, "login", sd); err != nil {
		return nil, err
	}
	return assertion, nil
}

// FinishLogin checks the browser's answer (body) to the session's sign-in challenge:
// origin, relying party, challenge, signature, and a signature counter that rose.
// Failures count towards throttling like wrong codes.
func (p *Passkeys) FinishLogin(ctx context.Context, rp RP, u store.User, sessionID string, body []byte, ip string) error {
	a := p.Accounts
	if err := a.Throttle.CheckAccount(ctx, u.TenantID, u.ID); err != nil {
		return err
	}
	err := p.finishLogin(ctx, rp, u, sessionID, body)
	if errors.Is(err, ErrWebAuthn) || errors.Is(err, ErrCloned) || errors.Is(err, ErrNoChallenge) {
		if ferr := a.fail(ctx, u, ip, "signin.2fa_failed", "webauthn: "+errText(err)); ferr != nil {
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
	a.Audit(ctx, u.TenantID, "signin", u.Email, u.ID, ip, "second factor: security key")
	return nil
}

func (p *Passkeys) finishLogin(ctx context.Context, rp RP, u store.User, sessionID string, body []byte) error {
	wa, err := p.relyingParty(rp)
	if err != nil {
		return err
	}
	sd, err := p.takeChallenge(ctx, u, sessionID, "login")
	if err != nil {
		return err
	}
	parsed, err := ParseAssertion(body)
	if err != nil {
		return err
	}
	wu, byID, err := p.user(ctx, rp, u)
	if err != nil {
		return err
	}
	cred, err := wa.ValidateLogin(wu, sd, parsed)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrWebAuthn, err)
	}
	if cred.Authenticator.CloneWarning {
		return ErrCloned
	}
	row, ok := byID[string(cred.ID)]
	if !ok {
		return ErrWebAuthn
	}
	err = p.Store.UseWebAuthnCredential(ctx, u.TenantID, u.ID, row.ID, cred.Authenticator.SignCount, p.now())
	if errors.Is(err, store.ErrConflict) {
		return ErrCloned
	}
	return err
}

// errText is err's message cut for an audit record.
func errText(err error) string {
	s := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		s += " (" + pe.DevInfo + ")"
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
