package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/aulacapture/aula/server/store"
)

// softKey is a software authenticator: one P-256 credential, answering with
// attestation "none" and a counter the test sets.
type softKey struct {
	id    []byte
	key   *ecdsa.PrivateKey
	count uint32
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{id: id, key: k}
}

var b64 = base64.RawURLEncoding

func authData(rpID string, flags byte, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

// create answers a registration challenge as a browser at origin would.
func (k *softKey) create(t *testing.T, challenge, rpID, origin string) []byte {
	t.Helper()
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: k.key.X.FillBytes(make([]byte, 32)), YCoord: k.key.Y.FillBytes(make([]byte, 32))})
	if err != nil {
		t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	ao, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{},
		"authData": authData(rpID, 0x01|0x04|0x40, k.count, attested)})
	if err != nil {
		t.Fatal(err)
	}
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.create", "challenge": challenge, "origin": origin})
	body, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id),
		"type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(ao),
			"transports": []string{"usb"}}})
	return body
}

// get answers a sign-in challenge as a browser at origin would, with counter count.
func (k *softKey) get(t *testing.T, challenge, rpID, origin string, userHandle []byte) []byte {
	t.Helper()
	ad := authData(rpID, 0x01|0x04, k.count, nil)
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": challenge, "origin": origin})
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id),
		"type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(userHandle)}})
	return body
}

var testRP = RP{ID: "localhost", Origin: "https://localhost:8443"}

type passkeyFixture struct {
	*fixture
	pk  *Passkeys
	u   store.User
	key *softKey
}

// newPasskeyFixture makes an administrator with one registered software key.
func newPasskeyFixture(t *testing.T) *passkeyFixture {
	t.Helper()
	f := newFixture(t)
	// The store checks challenges' expiry by its own clock, the real one.
	f.clk.t = time.Now()
	ctx := context.Background()
	pk := &Passkeys{Store: f.st, Accounts: f.acc, Now: f.clk.Now}
	u := f.user(t, "admin@uni.example", "correct horse battery staple", store.RoleAdmin)
	if n, err := f.acc.Pending(ctx, u, true); err != nil || n != NextSetup2FA {
		t.Fatalf("before any key: %v, %v; want set-up", n, err)
	}
	key := newSoftKey(t)
	key.count = 1
	creation, err := pk.BeginRegistration(ctx, testRP, u, "setup-session")
	if err != nil {
		t.Fatal(err)
	}
	if creation.Response.RelyingParty.ID != "localhost" || creation.Response.User.Name != u.Email {
		t.Errorf("creation options %+v", creation.Response)
	}
	row, err := pk.FinishRegistration(ctx, testRP, u, "setup-session", " My  key ",
		key.create(t, creation.Response.Challenge.String(), testRP.ID, testRP.Origin), "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if row.Name != "My key" || row.SignCount != 1 || row.RPID != "localhost" {
		t.Errorf("registered %+v", row)
	}
	return &passkeyFixture{fixture: f, pk: pk, u: u, key: key}
}

// signIn runs one sign-in ceremony in session with the assertion answer makes.
func (f *passkeyFixture) signIn(t *testing.T, session string, answer func(challenge string) []byte) error {
	t.Helper()
	ctx := context.Background()
	f.clk.Add(time.Minute) // past the throttling delay of earlier failures
	assertion, err := f.pk.BeginLogin(ctx, testRP, f.u, session)
	if err != nil {
		t.Fatal(err)
	}
	if len(assertion.Response.AllowedCredentials) != 1 || assertion.Response.RelyingPartyID != "localhost" {
		t.Errorf("assertion options %+v", assertion.Response)
	}
	return f.pk.FinishLogin(ctx, testRP, f.u, session, answer(assertion.Response.Challenge.String()), "192.0.2.1")
}

func TestPasskeySatisfies2FA(t *testing.T) {
	f := newPasskeyFixture(t)
	ctx := context.Background()
	// With a key, the password alone is not enough, and once the key is used the
	// administrator needs no TOTP.
	if n, err := f.acc.Pending(ctx, f.u, false); err != nil || n != NextTOTP {
		t.Errorf("Pending before second step = %v, %v; want the second step", n, err)
	}
	if n, err := f.acc.Pending(ctx, f.u, true); err != nil || n != NextDone {
		t.Errorf("Pending after second step = %v, %v; want done", n, err)
	}
	f.key.count = 2
	if err := f.signIn(t, "mfa-1", func(c string) []byte { return f.key.get(t, c, testRP.ID, testRP.Origin, []byte(f.u.ID)) }); err != nil {
		t.Fatalf("sign-in with the key: %v", err)
	}
	list, err := f.pk.List(ctx, f.u)
	if err != nil || len(list) != 1 || list[0].SignCount != 2 || list[0].LastUsedAt == nil {
		t.Errorf("after sign-in: %+v, %v", list, err)
	}
	// An administrator's reset removes the key, and 2FA must be set up again.
	if err := f.acc.RemoveTOTP(ctx, f.u.TenantID, f.u.ID, "cli"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.acc.Pending(ctx, f.u, true); err != nil || n != NextSetup2FA {
		t.Errorf("after remove-2fa: %v, %v; want set-up", n, err)
	}
}

func TestPasskeyChallengeReplayedOrExpired(t *testing.T) {
	f := newPasskeyFixture(t)
	ctx := context.Background()
	var body []byte
	f.key.count = 2
	err := f.signIn(t, "mfa-1", func(c string) []byte {
		body = f.key.get(t, c, testRP.ID, testRP.Origin, []byte(f.u.ID))
		return body
	})
	if err != nil {
		t.Fatal(err)
	}
	// The same answer again: the challenge was used.
	if err := f.pk.FinishLogin(ctx, testRP, f.u, "mfa-1", body, "192.0.2.1"); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("replayed answer: %v, want ErrNoChallenge", err)
	}
	// An empty answer uses up the challenge and fails.
	f.key.count = 3
	if err := f.signIn(t, "mfa-2", func(string) []byte { return nil }); !errors.Is(err, ErrWebAuthn) {
		t.Errorf("empty answer: %v, want ErrWebAuthn", err)
	}
	// An answer given after the challenge lifetime is refused.
	assertion, err := f.pk.BeginLogin(ctx, testRP, f.u, "mfa-3")
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Add(ChallengeTTL + time.Second)
	late := f.key.get(t, assertion.Response.Challenge.String(), testRP.ID, testRP.Origin, []byte(f.u.ID))
	if err := f.pk.FinishLogin(ctx, testRP, f.u, "mfa-3", late, "192.0.2.1"); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("expired challenge: %v, want ErrNoChallenge", err)
	}
	// An answer for the challenge of another session.
	f.clk.Add(time.Minute)
	assertion, err = f.pk.BeginLogin(ctx, testRP, f.u, "mfa-4")
	if err != nil {
		t.Fatal(err)
	}
	other := f.key.get(t, assertion.Response.Challenge.String(), testRP.ID, testRP.Origin, []byte(f.u.ID))
	if err := f.pk.FinishLogin(ctx, testRP, f.u, "mfa-5", other, "192.0.2.1"); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("other session's challenge: %v, want ErrNoChallenge", err)
	}
	// A challenge made up by the client.
	f.clk.Add(time.Minute)
	if _, err := f.pk.BeginLogin(ctx, testRP, f.u, "mfa-6"); err != nil {
		t.Fatal(err)
	}
	forged := f.key.get(t, b64.EncodeToString(make([]byte, 32)), testRP.ID, testRP.Origin, []byte(f.u.ID))
	if err := f.pk.FinishLogin(ctx, testRP, f.u, "mfa-6", forged, "192.0.2.1"); !errors.Is(err, ErrWebAuthn) {
		t.Errorf("forged challenge: %v, want ErrWebAuthn", err)
	}
}

func TestPasskeyWrongOriginOrRP(t *testing.T) {
	f := newPasskeyFixture(t)
	f.key.count = 5
	cases := []struct {
		name, rpID, origin string
		handle             []byte
	}{
		{"phishing origin", testRP.ID, "https://localhost.evil.example", []byte(f.u.ID)},
		{"other port", testRP.ID, "https://localhost:9443", []byte(f.u.ID)},
		{"plain http", testRP.ID, "http://localhost:8443", []byte(f.u.ID)},
		{"other relying party", "evil.example", testRP.Origin, []byte(f.u.ID)},
		{"other user handle", testRP.ID, testRP.Origin, []byte("someone-else")},
	}
	for _, c := range cases {
		err := f.signIn(t, "mfa-"+c.name, func(ch string) []byte { return f.key.get(t, ch, c.rpID, c.origin, c.handle) })
		if !errors.Is(err, ErrWebAuthn) {
			t.Errorf("%s: %v, want ErrWebAuthn", c.name, err)
		}
	}
	// Registration checks the origin too.
	ctx := context.Background()
	creation, err := f.pk.BeginRegistration(ctx, testRP, f.u, "full-1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.pk.FinishRegistration(ctx, testRP, f.u, "full-1", "",
		newSoftKey(t).create(t, creation.Response.Challenge.String(), testRP.ID, "https://evil.example"), "")
	if !errors.Is(err, ErrWebAuthn) {
		t.Errorf("registration from another origin: %v, want ErrWebAuthn", err)
	}
	// And a relying party not configured is not served at all.
	if _, err := f.pk.BeginLogin(ctx, RP{ID: "localhost", Origin: "http://localhost"}, f.u, "x"); err == nil {
		t.Error("http origin served")
	}
}

func TestPasskeySignCountRegression(t *testing.T) {
	f := newPasskeyFixture(t)
	ctx := context.Background()
	answer := func(c string) []byte { return f.key.get(t, c, testRP.ID, testRP.Origin, []byte(f.u.ID)) }
	f.key.count = 10
	if err := f.signIn(t, "mfa-1", answer); err != nil {
		t.Fatal(err)
	}
	for _, count := range []uint32{10, 9, 0} {
		f.key.count = count
		if err := f.signIn(t, "mfa-clone", answer); !errors.Is(err, ErrCloned) {
			t.Errorf("count %d after 10: %v, want ErrCloned", count, err)
		}
	}
	list, _ := f.pk.List(ctx, f.u)
	if list[0].SignCount != 10 {
		t.Errorf("stored count %d after refused clones, want 10", list[0].SignCount)
	}
	f.key.count = 11
	if err := f.signIn(t, "mfa-2", answer); err != nil {
		t.Errorf("count 11: %v", err)
	}
	// The refusals were audited as failed second steps.
	events, err := f.st.AuditEvents(ctx, f.u.TenantID, 50)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range events {
		if e.Action == "signin.2fa_failed" {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("%d failed second steps audited, want 3", failed)
	}
}

func TestPasskeyRegistration(t *testing.T) {
	f := newPasskeyFixture(t)
	ctx := context.Background()
	// The same key again is excluded by the browser; were it sent, it is refused.
	creation, err := f.pk.BeginRegistration(ctx, testRP, f.u, "full-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(creation.Response.CredentialExcludeList) != 1 {
		t.Errorf("exclude list %+v", creation.Response.CredentialExcludeList)
	}
	body := f.key.create(t, creation.Response.Challenge.String(), testRP.ID, testRP.Origin)
	if _, err := f.pk.FinishRegistration(ctx, testRP, f.u, "full-1", "", body, ""); !errors.Is(err, ErrWebAuthn) {
		t.Errorf("same key twice: %v, want ErrWebAuthn", err)
	}
	// A second key, then removal.
	creation, err = f.pk.BeginRegistration(ctx, testRP, f.u, "full-1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.pk.FinishRegistration(ctx, testRP, f.u, "full-1", "",
		newSoftKey(t).create(t, creation.Response.Challenge.String(), testRP.ID, testRP.Origin), "")
	if err != nil {
		t.Fatal(err)
	}
	if second.Name != "Security key" {
		t.Errorf("default name %q", second.Name)
	}
	if _, err := f.pk.FinishRegistration(ctx, testRP, f.u, "full-1", "", body, ""); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("finish without begin: %v, want ErrNoChallenge", err)
	}
	if err := f.pk.Remove(ctx, f.u, second.ID, ""); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.pk.List(ctx, f.u); len(list) != 1 {
		t.Errorf("after removal %d keys", len(list))
	}
	other := f.user(t, "other@uni.example", "correct horse battery staple", store.RoleViewer)
	if err := f.pk.Remove(ctx, other, f.key.idRow(t, f), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing another's key: %v", err)
	}
	if _, err := f.pk.BeginLogin(ctx, testRP, other, "s"); !errors.Is(err, ErrNoPasskey) {
		t.Errorf("sign-in without a key: %v", err)
	}
}

func (k *softKey) idRow(t *testing.T, f *passkeyFixture) string {
	list, err := f.pk.List(context.Background(), f.u)
	if err != nil || len(list) == 0 {
		t.Fatal(err)
	}
	return list[0].ID
}

// FuzzParseWebAuthn feeds the parsers of browsers' WebAuthn answers arbitrary bytes.
func FuzzParseWebAuthn(f *testing.F) {
	k := &softKey{id: []byte("0123456789abcdef")}
	k.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	t := &testing.T{}
	f.Add(k.create(t, "Y2hhbGxlbmdl", "localhost", "https://localhost:8443"))
	f.Add(k.get(t, "Y2hhbGxlbmdl", "localhost", "https://localhost:8443", []byte("u")))
	f.Add([]byte(`{"id":"","type":"public-key","response":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if p, err := ParseCreation(body); err == nil && p == nil {
			t.Error("nil creation without error")
		} else if err != nil && !errors.Is(err, ErrWebAuthn) {
			t.Errorf("creation error %v not ErrWebAuthn", err)
		}
		if p, err := ParseAssertion(body); err == nil && p == nil {
			t.Error("nil assertion without error")
		} else if err != nil && !errors.Is(err, ErrWebAuthn) {
			t.Errorf("assertion error %v not ErrWebAuthn", err)
		}
	})
}

func TestPasskeyName(t *testing.T) {
	for in, want := range map[string]string{"": "Security key", "  a \n b ": "a b", "\xff\xfekey": "key"} {
		if got := PasskeyName(in); got != want {
			t.Errorf("PasskeyName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := PasskeyName(string(make([]rune, 100))); len([]rune(got)) > 64 {
		t.Errorf("long name kept %d runes", len([]rune(got)))
	}
}
