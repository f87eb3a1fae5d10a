package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/oauth"
	"github.com/aulacapture/aula/server/store"
)

// oauthCtx carries an HTTPS client that trusts srv to golang.org/x/oauth2.
func oauthCtx(t *testing.T, srv running) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, httpsClient(t, srv))
}

// enroll trades an enrollment code at srv and returns the status and the answer.
func enroll(t *testing.T, srv running, code string) (int, oauth.EnrollResponse, string) {
	t.Helper()
	body, _ := json.Marshal(oauth.EnrollRequest{Code: code})
	resp, err := httpsClient(t, srv).Post(srv.url+oauth.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out oauth.EnrollResponse
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
	} else if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("enroll answered %d with %s, want problem+json", resp.StatusCode, ct)
	}
	return resp.StatusCode, out, string(raw)
}

// ingestStatus is the ingest API's answer to a GET with the access token.
func ingestStatus(t *testing.T, srv running, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.url+"/api/v1/tenant/recipient", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpsClient(t, srv).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// storeOf opens srv's metadata store beside the running server.
func storeOf(t *testing.T, srv running) *store.Store {
	t.Helper()
	dsn := srv.getenv("AULA_DATABASE")
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(srv.data, "aula.db")
	}
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantOAuthError(t *testing.T, what string, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Errorf("%s: err = %v, want OAuth error %s", what, err, code)
	}
}

// TestAgentEnrollment: an enrollment code made with the CLI enrolls one agent, once and
// before it expires; the agent's client credentials give ingest tokens of at most 15
// minutes with which a real recording uploads through the ingest API; revoking the agent
// refuses its next token request and ends the token it holds.
func TestAgentEnrollment(t *testing.T) {
	for name, setup := range backends(t) {
		t.Run(name, func(t *testing.T) { agentEnrollment(t, setup) })
	}
}

func agentEnrollment(t *testing.T, setup func(*testing.T, *server.Config)) {
	srv := start(t, setup)
	code := strings.TrimSpace(runCLI(t, srv.getenv, "enrollment", "create", "--tenant", "Uni", "--room", "Hall B"))
	if _, ok := auth.ParseToken(code); !ok {
		t.Fatalf("enrollment create printed %q", code)
	}
	status, cred, body := enroll(t, srv, code)
	if status != http.StatusCreated || cred.Room != "Hall B" || !strings.HasPrefix(cred.ClientID, store.AgentClientPrefix) {
		t.Fatalf("enroll: %d %s", status, body)
	}
	if status, _, body := enroll(t, srv, code); status != http.StatusForbidden || !strings.Contains(body, "used already") {
		t.Errorf("second use of the code: %d %s", status, body)
	}
	// A code past its expiry, made as the CLI makes one.
	meta := storeOf(t, srv)
	tn, err := meta.TenantByName(context.Background(), "Uni")
	if err != nil {
		t.Fatal(err)
	}
	old, oldHash, _ := auth.NewToken()
	past := time.Now().Add(-time.Hour)
	if _, err := meta.CreateEnrollment(context.Background(), store.Enrollment{TenantID: tn.ID, Room: "Hall C", CodeHash: oldHash,
		CreatedAt: past.Add(-time.Hour), ExpiresAt: past}); err != nil {
		t.Fatal(err)
	}
	if status, _, body := enroll(t, srv, old); status != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("expired code: %d %s", status, body)
	}
	if status, _, _ := enroll(t, srv, "aula_"+strings.Repeat("A", 43)); status != http.StatusForbidden {
		t.Errorf("unknown code: %d", status)
	}
	if status, _, _ := enroll(t, srv, "not a code"); status != http.StatusBadRequest {
		t.Errorf("malformed code: %d", status)
	}

	// Discovery names this server's endpoints; no other site may read token answers.
	resp, err := httpsClient(t, srv).Get(srv.url + "/oauth/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Issuer        string   `json:"issuer"`
		TokenEndpoint string   `json:"token_endpoint"`
		Grants        []string `json:"grant_types_supported"`
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || disc.Issuer != srv.url+oauth.Prefix || disc.TokenEndpoint != srv.url+oauth.TokenPath {
		t.Errorf("discovery: %+v %v", disc, err)
	}
	req, _ := http.NewRequest("POST", srv.url+oauth.TokenPath, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := httpsClient(t, srv).Do(req); err == nil {
		resp.Body.Close()
		if acao := resp.Header.Get("Access-Control-Allow-Origin"); acao != "" {
			t.Errorf("token endpoint allows the origin %q", acao)
		}
	}

	ctx := oauthCtx(t, srv)
	cc := clientcredentials.Config{ClientID: cred.ClientID, ClientSecret: cred.ClientSecret, TokenURL: srv.url + oauth.TokenPath,
		Scopes: []string{"ingest"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if life := time.Until(tok.Expiry); life > 15*time.Minute || life < 10*time.Minute {
		t.Errorf("access token lives %s, want at most 15 min", life)
	}
	if tok.RefreshToken != "" {
		t.Error("client credentials gave a refresh token")
	}
	wrong := cc
	wrong.ClientSecret, _, _ = auth.NewToken()
	if _, err := wrong.Token(ctx); err == nil {
		t.Error("a wrong secret got a token")
	}
	other := cc
	other.Scopes = []string{"admin"}
	if _, err := other.Token(ctx); err == nil {
		t.Error("the agent got an admin token")
	}

	// The real upload, through the ingest API, with a fresh token per request.
	c, err := upload.NewClient(srv.url, "", srv.cert)
	if err != nil {
		t.Fatal(err)
	}
	c.Tokens = cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, c.HTTP))
	final, err := upload.Dir(context.Background(), c, recording(t), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Manifest(context.Background(), final.ID)
	if err != nil || m.State != "upload_finished" && m.State != final.State {
		t.Errorf("manifest after the agent's upload: %+v, %v", m, err)
	}
	if got := ingestStatus(t, srv, tok.AccessToken); got != http.StatusOK {
		t.Fatalf("the access token on the ingest API: %d", got)
	}

	runCLI(t, srv.getenv, "agent", "revoke", "--tenant", "Uni", "--client", cred.ClientID)
	if got := ingestStatus(t, srv, tok.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("the revoked agent's outstanding token: %d, want 401", got)
	}
	_, err = cc.Token(ctx)
	wantOAuthError(t, "token request of a revoked agent", err, "invalid_client")
	if out := runCLI(t, srv.getenv, "agent", "list", "--tenant", "Uni"); !strings.Contains(out, cred.ClientID) || !strings.Contains(out, "Hall B") {
		t.Errorf("agent list: %s", out)
	}
	events, err := meta.AuditEvents(context.Background(), tn.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"agent.enrollment_created", "agent.enrolled", "agent.revoked"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit log lacks %s: %v", want, actions)
		}
	}
}

var consentIDRe = regexp.MustCompile(`name="id" value="([^"]+)"`)

// stopAtLoopback is b's client, stopping at the redirect to the loopback client, as a
// browser hands it to the recorder.
func stopAtLoopback(b *browser) *http.Client {
	hc := *b.hc
	hc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Scheme == "http" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &hc
}

// TestRecorderOAuth: the desktop recorder signs its user in with the authorization code
// and PKCE on a loopback redirect, and with the device grant, through
// golang.org/x/oauth2, the user approving with plain HTTP requests that carry a signed-in
// session; its access token uploads, lives at most 15 minutes, and its refresh token
// rotates: the old one is refused after use, and using it revokes the new one too; a
// locked account's refresh token is refused.
func TestRecorderOAuth(t *testing.T) {
	for name, setup := range backends(t) {
		t.Run(name, func(t *testing.T) { recorderOAuth(t, setup) })
	}
}

func recorderOAuth(t *testing.T, setup func(*testing.T, *server.Config)) {
	srv := start(t, setup)
	out := runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "teacher@uni.example", "--role", "creator")
	teacher := firstSignIn(t, srv, "teacher@uni.example", password(t, out))
	ctx := oauthCtx(t, srv)
	cfg := &oauth2.Config{ClientID: oauth.RecorderClientID, Scopes: []string{"ingest", "offline_access"},
		RedirectURL: "http://127.0.0.1:49152/callback",
		Endpoint: oauth2.Endpoint{AuthURL: srv.url + oauth.AuthorizePath, TokenURL: srv.url + oauth.TokenPath,
			DeviceAuthURL: srv.url + oauth.DeviceAuthorizationPath, AuthStyle: oauth2.AuthStyleInParams}}

	// A viewer may not let a recorder upload as them.
	out = runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "student@uni.example", "--role", "viewer")
	student := firstSignIn(t, srv, "student@uni.example", password(t, out))
	if _, status, body := student.b.do("GET", strings.TrimPrefix(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), srv.url), nil); status != http.StatusForbidden || !strings.Contains(body, "creator role") {
		t.Errorf("a viewer's consent page: %d", status)
	}

	// Not signed in: the consent page asks to sign in first.
	anon := newBrowser(t, srv)
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier))
	if at, status, body := anon.do("GET", strings.TrimPrefix(authURL, srv.url), nil); status != http.StatusUnauthorized || !strings.Contains(body, "Sign in") {
		t.Errorf("consent without a session: %s %d", at, status)
	}
	// Without PKCE the request is refused.
	resp, err := stopAtLoopback(teacher.b).Get(cfg.AuthCodeURL("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("an authorization request without PKCE: %d to %v", resp.StatusCode, loc)
	}

	code := authorize(t, srv, teacher.b, authURL, "st4te")
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Error("a wrong PKCE verifier got a token")
	}
	code = authorize(t, srv, teacher.b, cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)), "st4te")
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Error("an authorization code was exchanged twice")
	}
	if life := time.Until(tok.Expiry); life > 15*time.Minute || tok.RefreshToken == "" {
		t.Errorf("token lives %s, refresh token %q", life, tok.RefreshToken)
	}
	if got := ingestStatus(t, srv, tok.AccessToken); got != http.StatusOK {
		t.Errorf("the recorder's access token on the ingest API: %d", got)
	}

	// Rotation: each refresh gives a new refresh token; the old one is refused after
	// use, and presenting it again revokes its successor as well.
	r1 := tok.RefreshToken
	t2, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: r1}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if t2.RefreshToken == "" || t2.RefreshToken == r1 || t2.AccessToken == tok.AccessToken {
		t.Fatalf("refresh did not rotate: %q → %q", r1, t2.RefreshToken)
	}
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: r1}).Token()
	wantOAuthError(t, "old refresh token", err, "invalid_grant")
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: t2.RefreshToken}).Token()
	wantOAuthError(t, "refresh token of a family whose old token was replayed", err, "invalid_grant")

	// The device grant.
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(da.VerificationURI, oauth.DevicePath) || da.UserCode == "" {
		t.Fatalf("device authorization: %+v", da)
	}
	if _, status, body := teacher.b.do("POST", oauth.DevicePath, url.Values{"user_code": {"BCDF-GHJK"}, "decision": {"allow"}}); status != http.StatusBadRequest {
		t.Errorf("a wrong user code: %d %s", status, body)
	}
	_, status, body := teacher.b.do("GET", oauth.DevicePath+"?user_code="+url.QueryEscape(da.UserCode), nil)
	if status != http.StatusOK || !strings.Contains(body, da.UserCode) {
		t.Fatalf("device page: %d %s", status, body)
	}
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", " "))
	if _, status, body = teacher.b.do("POST", oauth.DevicePath, url.Values{"user_code": {typed}, "decision": {"allow"}}); status != http.StatusOK || !strings.Contains(body, "signed in") {
		t.Fatalf("device approval: %d %s", status, body)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dt, err := cfg.DeviceAccessToken(dctx, da)
	if err != nil {
		t.Fatal(err)
	}
	if life := time.Until(dt.Expiry); life > 15*time.Minute || dt.RefreshToken == "" {
		t.Errorf("device token lives %s, refresh %q", life, dt.RefreshToken)
	}
	if got := ingestStatus(t, srv, dt.AccessToken); got != http.StatusOK {
		t.Errorf("the device's access token on the ingest API: %d", got)
	}
	if _, err := cfg.DeviceAccessToken(dctx, da); err == nil {
		t.Error("a device code gave tokens twice")
	}

	// Wrong user codes: after a few, the page makes the user wait.
	limited := false
	for range 5 {
		_, status, _ := teacher.b.do("POST", oauth.DevicePath, url.Values{"user_code": {"ZZZZ-ZZZZ"}, "decision": {"allow"}})
		if status == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("six wrong user codes in a row were all checked")
	}

	// Revocation (RFC 7009) of the device's refresh token ends its sign-in.
	again, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: dt.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	resp, err = httpsClient(t, srv).PostForm(srv.url+oauth.Prefix+"/revoke", url.Values{"token": {again.RefreshToken},
		"token_type_hint": {"refresh_token"}, "client_id": {oauth.RecorderClientID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: again.RefreshToken}).Token()
	wantOAuthError(t, "revoked refresh token", err, "invalid_grant")
	// Revoking an access token ends it on the ingest API at once.
	resp, err = httpsClient(t, srv).PostForm(srv.url+oauth.Prefix+"/revoke", url.Values{"token": {again.AccessToken},
		"token_type_hint": {"access_token"}, "client_id": {oauth.RecorderClientID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := ingestStatus(t, srv, again.AccessToken); resp.StatusCode != http.StatusOK || got != http.StatusUnauthorized {
		t.Errorf("revoked access token: revoke %d, then ingest %d", resp.StatusCode, got)
	}

	meta := storeOf(t, srv)
	tn, err := meta.TenantByName(context.Background(), "Uni")
	if err != nil {
		t.Fatal(err)
	}
	events, err := meta.AuditEvents(context.Background(), tn.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"oauth.authorized", "oauth.device_authorized"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit log lacks %s: %v", want, actions)
		}
	}

	// A locked account's refresh token is refused.
	code = authorize(t, srv, teacher.b, cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)), "st4te")
	last, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	runCLI(t, srv.getenv, "user", "lock", "--tenant", "Uni", "--email", "teacher@uni.example")
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: last.RefreshToken}).Token()
	wantOAuthError(t, "refresh token of a locked account", err, "invalid_grant")
}

// authorize drives the consent of an authorization request as the signed-in browser b
// and returns the code the loopback redirect received.
func authorize(t *testing.T, srv running, b *browser, authURL, state string) string {
	t.Helper()
	hc := stopAtLoopback(b)
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := consentIDRe.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	resp, err = hc.PostForm(srv.url+"/oauth/consent", url.Values{"id": {string(m[1])}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("after consent: %d %v", resp.StatusCode, err)
	}
	if loc.Host != "127.0.0.1:49152" || loc.Path != "/callback" || loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		t.Fatalf("redirect to %s", loc)
	}
	return loc.Query().Get("code")
}
