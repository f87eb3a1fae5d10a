package main

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/oauth"
)

var (
	pageCodeRe    = regexp.MustCompile(`id="enrollment-code">([^<]+)<`)
	pageCommandRe = regexp.MustCompile(`id="enrollment-command">([^<]+)<`)
)

// TestAgentsPage: an administrator makes an enrollment code on the agents page, shown
// once with the agent's command; an agent enrolls with it once, into the folder chosen;
// revoking the agent on the page refuses its next token request and ends the token it
// holds; the actions are audited; other users may not open the page or use its forms.
func TestAgentsPage(t *testing.T) {
	srv := start(t, func(*testing.T, *server.Config) {})
	runCLI(t, srv.getenv, "folder", "create", "--tenant", "Uni", "--path", "/Physics/Year 1")
	dean := firstSignIn(t, srv, "dean@uni.example", password(t, runCLI(t, srv.getenv, "admin", "create", "--tenant", "Uni", "--email", "dean@uni.example")))
	b := dean.b

	if at, status, body := b.do("GET", "/admin/agents", nil); at != "/admin/agents" || status != http.StatusOK || !strings.Contains(body, "No agent is enrolled yet") {
		t.Fatalf("agents page: %s %d %s", at, status, body)
	}
	// Refusals keep what was typed.
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"room": {""}, "folder": {"/"}, "ttl": {"24h"}}, "Name the room"},
		{url.Values{"room": {strings.Repeat("x", 201)}, "folder": {"/"}, "ttl": {"24h"}}, "Name the room"},
		{url.Values{"room": {"Hall\x00B"}, "folder": {"/"}, "ttl": {"24h"}}, "Name the room"},
		{url.Values{"room": {"Hall B"}, "folder": {"/Chemistry"}, "ttl": {"24h"}}, "There is no folder /Chemistry"},
		{url.Values{"room": {"Hall B"}, "folder": {"/"}, "ttl": {"8760h"}}, "Choose how long"},
	} {
		_, status, body := b.do("POST", "/admin/agents/enroll", c.form)
		if status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(body), c.want) || pageCodeRe.MatchString(body) {
			t.Errorf("enroll %v: %d, want 422 with %q", c.form, status, c.want)
		}
	}

	_, status, body := b.do("POST", "/admin/agents/enroll", url.Values{"room": {"Hall B"}, "folder": {"/Physics/Year 1"}, "ttl": {"1h"}})
	m, cmd := pageCodeRe.FindStringSubmatch(body), pageCommandRe.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil || cmd == nil {
		t.Fatalf("enroll: %d %s", status, body)
	}
	code := html.UnescapeString(m[1])
	if _, ok := auth.ParseToken(code); !ok {
		t.Fatalf("the page's code %q is not a token", code)
	}
	if want := "aula-agent enroll --server " + srv.url + " " + code; html.UnescapeString(cmd[1]) != want {
		t.Errorf("command %q, want %q", html.UnescapeString(cmd[1]), want)
	}
	// Shown once: the page lists the code, not its value.
	_, _, body = b.do("GET", "/admin/agents", nil)
	if strings.Contains(body, code) || !strings.Contains(body, "Hall B") {
		t.Errorf("agents page after making a code: %s", body)
	}

	status, cred, raw := enroll(t, srv, code)
	if status != http.StatusCreated || cred.Room != "Hall B" {
		t.Fatalf("enroll with the page's code: %d %s", status, raw)
	}
	if status, _, raw := enroll(t, srv, code); status != http.StatusForbidden || !strings.Contains(raw, "used already") {
		t.Errorf("second use of the page's code: %d %s", status, raw)
	}
	meta := storeOf(t, srv)
	tn, err := meta.TenantByName(context.Background(), "Uni")
	if err != nil {
		t.Fatal(err)
	}
	folders, err := meta.Folders(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	year1, _ := authz.NewTree(folders).Find("/Physics/Year 1")
	bindings, err := meta.RoomBindings(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	bound := false
	for _, rb := range bindings {
		bound = bound || rb.Room == "Hall B" && rb.FolderID == year1
	}
	if !bound {
		t.Errorf("Hall B is not bound to /Physics/Year 1: %+v", bindings)
	}
	_, _, body = b.do("GET", "/admin/agents", nil)
	if !strings.Contains(body, cred.ClientID) || !strings.Contains(body, "/Physics/Year 1") || !strings.Contains(body, "/admin/agents/"+cred.ClientID+"/revoke") {
		t.Errorf("agents page does not list the agent %s: %s", cred.ClientID, body)
	}

	ctx := oauthCtx(t, srv)
	cc := clientcredentials.Config{ClientID: cred.ClientID, ClientSecret: cred.ClientSecret, TokenURL: srv.url + oauth.TokenPath,
		Scopes: []string{"ingest"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ingestStatus(t, srv, tok.AccessToken); got != http.StatusOK {
		t.Fatalf("the agent's token on the ingest API: %d", got)
	}

	// Other users may not use the page.
	teacher := firstSignIn(t, srv, "teacher@uni.example",
		password(t, runCLI(t, srv.getenv, "user", "create", "--tenant", "Uni", "--email", "teacher@uni.example", "--role", "creator")))
	for _, r := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/admin/agents", nil},
		{"POST", "/admin/agents/enroll", url.Values{"room": {"Hall X"}, "folder": {"/"}, "ttl": {"24h"}}},
		{"POST", "/admin/agents/" + cred.ClientID + "/revoke", url.Values{}},
	} {
		if _, status, body := teacher.b.do(r.method, r.path, r.form); status != http.StatusForbidden || pageCodeRe.MatchString(body) {
			t.Errorf("a creator's %s %s: %d", r.method, r.path, status)
		}
	}
	if _, err := cc.Token(ctx); err != nil {
		t.Errorf("the agent after a creator tried to revoke it: %v", err)
	}
	// Not signed in: sent to sign in.
	if at, _, _ := newBrowser(t, srv).do("GET", "/admin/agents", nil); at != "/signin" {
		t.Errorf("agents page without a session ended at %s", at)
	}

	if at, status, _ := b.do("POST", "/admin/agents/agent-nosuch/revoke", url.Values{}); status != http.StatusNotFound {
		t.Errorf("revoking an unknown agent: %s %d", at, status)
	}
	at, status, body := b.do("POST", "/admin/agents/"+cred.ClientID+"/revoke", url.Values{})
	if at != "/admin/agents" || status != http.StatusOK || !strings.Contains(body, "revoked") {
		t.Fatalf("revoke: %s %d", at, status)
	}
	if got := ingestStatus(t, srv, tok.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("the revoked agent's outstanding token: %d, want 401", got)
	}
	_, err = cc.Token(ctx)
	wantOAuthError(t, "token request of an agent revoked on the page", err, "invalid_client")

	events, err := meta.AuditEvents(context.Background(), tn.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, e := range events {
		if e.Actor == dean.email {
			found[e.Action] = true
		}
	}
	for _, want := range []string{"agent.enrollment_created", "agent.revoked"} {
		if !found[want] {
			t.Errorf("audit log lacks %s by %s", want, dean.email)
		}
	}
}
