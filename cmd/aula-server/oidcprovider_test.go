package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// provider is a real OpenID provider for the tests: the exampleop server of
// zitadel/oidc, in this process on 127.0.0.1, with its example storage wrapped so that a
// "groups" scope puts the user's current groups into the ID token, and the groups can be
// changed between sign-ins. The token endpoint's answers can be altered (tamper) to
// play a provider, or a network, that hands Aula a bad ID token.
type provider struct {
	issuer string
	store  *providerStorage
	// tamper, when set, rewrites the id_token of the next token answers.
	tamper atomic.Pointer[func(idToken string) string]
}

// The people and clients at the provider.
const (
	idpUser     = "ada"
	idpPassword = "correct horse battery staple"
	idpSubject  = "ada-subject-0001"
	idpEmail    = "ada@uni.example"
	// aulaClient is Aula's client; otherClient is another application at the same
	// provider, whose ID tokens must not be accepted by Aula.
	aulaClient   = "aula"
	aulaSecret   = "aula-client-secret-for-tests"
	otherClient  = "other"
	otherSecret  = "other-client-secret"
	otherRedirct = "http://127.0.0.1:1/other/callback"
)

// quietProvider silences exampleop's request log, which goes to slog's default logger.
var quietProvider sync.Once

// startProvider starts the provider with Aula's client registered for redirectURI and
// stops it at the end of the test.
func startProvider(t *testing.T, redirectURI string) *provider {
	t.Helper()
	quietProvider.Do(func() { slog.SetDefault(slog.New(slog.DiscardHandler)) })
	p := &provider{}
	var inner http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := p.tamper.Load()
		if f == nil || r.URL.Path != "/oauth/token" {
			inner.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err == nil {
			if raw, ok := body["id_token"].(string); ok {
				body["id_token"] = (*f)(raw)
			}
		}
		out, _ := json.Marshal(body)
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(out)
	}))
	t.Cleanup(ts.Close)
	p.issuer = ts.URL
	users := &providerUsers{users: map[string]*storage.User{idpSubject: {
		ID: idpSubject, Username: idpUser, Password: idpPassword, FirstName: "Ada", LastName: "Lovelace",
		Email: idpEmail, EmailVerified: true, PreferredLanguage: language.English,
	}}}
	clients := map[string]*storage.Client{
		aulaClient:  storage.WebClient(aulaClient, aulaSecret, redirectURI),
		otherClient: storage.WebClient(otherClient, otherSecret, otherRedirct),
	}
	p.store = &providerStorage{Storage: storage.NewStorageWithClients(users, clients), clients: clients, users: users,
		groups: map[string][]string{}}
	inner = exampleop.SetupServer(p.issuer, p.store, nil, false)
	return p
}

// setGroups sets the groups the provider asserts for the subject from now on.
func (p *provider) setGroups(subject string, groups ...string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.groups[subject] = groups
}

// addUser adds a person at the provider.
func (p *provider) addUser(u storage.User) {
	p.store.users.mu.Lock()
	defer p.store.users.mu.Unlock()
	u.PreferredLanguage = language.English
	p.store.users.users[u.ID] = &u
}

// setTamper makes the token endpoint rewrite ID tokens with f; nil stops it.
func (p *provider) setTamper(f func(string) string) {
	if f == nil {
		p.tamper.Store(nil)
		return
	}
	p.tamper.Store(&f)
}

// providerUsers is the example's UserStore with people added by tests.
type providerUsers struct {
	mu    sync.Mutex
	users map[string]*storage.User
}

func (u *providerUsers) GetUserByID(id string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.users[id]
}

func (u *providerUsers) GetUserByUsername(name string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.users {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func (u *providerUsers) ExampleClientID() string { return storage.ServiceUserID }

// providerStorage is the example storage plus a groups claim and a "groups" scope.
type providerStorage struct {
	*storage.Storage
	clients map[string]*storage.Client
	users   *providerUsers
	mu      sync.Mutex
	groups  map[string][]string // by subject
}

// groupsClient lets Aula's clients ask for the "groups" scope.
type groupsClient struct{ *storage.Client }

func (c groupsClient) IsScopeAllowed(scope string) bool { return scope == "groups" }

func (s *providerStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if _, err := s.Storage.GetClientByClientID(ctx, id); err != nil {
		return nil, err
	}
	return groupsClient{s.clients[id]}, nil
}

// SetUserinfoFromRequest fills the ID token's claims: the example's, and the groups.
func (s *providerStorage) SetUserinfoFromRequest(ctx context.Context, ui *zoidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	if slices.Contains(scopes, "groups") {
		s.mu.Lock()
		groups := append([]string{}, s.groups[req.GetSubject()]...)
		s.mu.Unlock()
		ui.AppendClaims("groups", groups)
	}
	return nil
}

// login signs in at the provider's login page for the authorization request at
// authURL, without a browser, and returns where the provider redirects to: the
// client's redirect URI with the code and state.
func (p *provider) login(t *testing.T, c *http.Client, authURL, user, password string) *url.URL {
	t.Helper()
	res := get(t, c, authURL)
	loc := location(t, res, http.StatusFound)
	if loc.Path != "/login/username" {
		t.Fatalf("provider sent the browser to %s, want its login page", loc)
	}
	id := loc.Query().Get("authRequestID")
	form := url.Values{"id": {id}, "username": {user}, "password": {password}}
	res, err := c.PostForm(p.issuer+"/login/username", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc = location(t, res, http.StatusFound)
	res = get(t, c, loc.String())
	return location(t, res, http.StatusFound)
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// location checks res's status and returns its Location, resolved against its URL.
func location(t *testing.T, res *http.Response, status int) *url.URL {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d", res.Request.Method, res.Request.URL, res.StatusCode, status)
	}
	loc, err := res.Location()
	if err != nil {
		t.Fatalf("%s: %v", res.Request.URL, err)
	}
	return loc
}

// tamperSignature changes one character in the middle of a JWT's signature.
func tamperSignature(jwt string) string {
	i := strings.LastIndexByte(jwt, '.') + 10
	b := []byte(jwt)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// tamperPayload rewrites a JWT's payload (the subject, to someone else's) and keeps the
// signature, as an attacker without the provider's key would.
func tamperPayload(jwt string) string {
	parts := strings.Split(jwt, ".")
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return jwt
	}
	payload = bytes.Replace(payload, []byte(idpSubject), []byte("admin-subject-9999"), 1)
	parts[1] = encodeSegment(payload)
	return strings.Join(parts, ".")
}
