package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/pgtest"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// forEachDatabase runs fn on a server with SQLite and one with PostgreSQL.
func forEachDatabase(t *testing.T, fn func(t *testing.T, s *Server)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			cfg := Default()
			cfg.Data = t.TempDir()
			cfg.Listen = "127.0.0.1:0"
			if db == "postgres" {
				cfg.Database = pgtest.Start(t)
			} else {
				cfg.Database = "sqlite:" + filepath.Join(cfg.Data, "aula.db")
			}
			s, err := Open(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}

// world is two tenants with identical names inside: folders /Own, /Own/Child and
// /Other; a user per role granted on /Own, an administrator, a user with no grant; a
// published recording in each folder; a room "Hall" bound to /Own with an agent and the
// agent's own recording there.
type world struct {
	tenant  [2]store.Tenant
	folder  [2]map[string]string // "own", "child", "other" → ID
	rec     [2]map[string]string // "own", "child", "other", "agent" → ID
	token   map[string]string    // principal → bearer token (tenant 0)
	agentID string
}

var relations = []string{"own", "child", "other", "foreign"}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func newWorld(t *testing.T, s *Server) *world {
	ctx := context.Background()
	w := &world{token: map[string]string{}}
	seq := 0
	recID := func() string {
		seq++
		return fmt.Sprintf("0195f0b2-0000-7000-8000-%012d", seq)
	}
	for i, name := range []string{"alpha", "beta"} {
		rcpt, wrapped, err := s.Master.NewTenantKey()
		if err != nil {
			t.Fatal(err)
		}
		tn := must[store.Tenant](t)(s.Meta.CreateTenant(ctx, store.Tenant{Name: name, Recipient: rcpt, WrappedIdentity: wrapped}))
		w.tenant[i] = tn
		own := must[store.Folder](t)(s.Meta.CreateFolder(ctx, store.Folder{TenantID: tn.ID, ParentID: tn.ID, Name: "Own"}))
		child := must[store.Folder](t)(s.Meta.CreateFolder(ctx, store.Folder{TenantID: tn.ID, ParentID: own.ID, Name: "Child"}))
		other := must[store.Folder](t)(s.Meta.CreateFolder(ctx, store.Folder{TenantID: tn.ID, ParentID: tn.ID, Name: "Other"}))
		w.folder[i] = map[string]string{"own": own.ID, "child": child.ID, "other": other.ID}
		w.rec[i] = map[string]string{}
		now := time.Now()
		for rel, f := range w.folder[i] {
			id := recID()
			must[bool](t)(s.Meta.PutRecording(ctx, store.Recording{TenantID: tn.ID, ID: id, Title: "Lecture", State: "capturing",
				StartedAt: now, FolderID: f, CreatedBy: "user:x", PublishedAt: &now,
				Tracks: []store.Track{{ID: "cam", Kind: store.KindCamera, Codec: "avc1.64001f"}}}))
			w.rec[i][rel] = id
		}
		userToken := func(email, accountRole string) (store.User, string) {
			u := must[store.User](t)(s.Meta.CreateUser(ctx, store.User{TenantID: tn.ID, Email: email, PasswordHash: "x", Role: accountRole}))
			tok, hash, err := auth.NewToken()
			if err != nil {
				t.Fatal(err)
			}
			must[store.Token](t)(s.Meta.CreateToken(ctx, store.Token{TenantID: tn.ID, UserID: u.ID, Hash: hash, Scope: auth.ScopeAdmin,
				ExpiresAt: now.Add(time.Hour)}))
			return u, tok
		}
		for _, role := range authz.Roles {
			u, tok := userToken("role-"+string(role)+"@uni.example", store.RoleViewer)
			must[store.Grant](t)(s.Meta.AddGrant(ctx, store.Grant{TenantID: tn.ID, FolderID: own.ID, UserID: u.ID, Role: string(role), CreatedBy: "test"}))
			if i == 0 {
				w.token[string(role)] = tok
			}
		}
		_, tok := userToken("admin@uni.example", store.RoleAdmin)
		_, none := userToken("nobody@uni.example", store.RoleViewer)
		// An agent of room Hall, bound to /Own, with its own recording there.
		code, codeHash, _ := auth.NewToken()
		_ = code
		must[store.Enrollment](t)(s.Meta.CreateEnrollment(ctx, store.Enrollment{TenantID: tn.ID, Room: "Hall", CodeHash: codeHash, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		_, secretHash, _ := auth.NewToken()
		client := must[store.OAuthClient](t)(s.Meta.RedeemEnrollment(ctx, codeHash, secretHash, now))
		if err := s.Meta.BindRoom(ctx, tn.ID, "Hall", own.ID); err != nil {
			t.Fatal(err)
		}
		agentTok, agentHash, _ := auth.NewToken()
		must[store.Token](t)(s.Meta.CreateClientToken(ctx, store.Token{TenantID: tn.ID, Hash: agentHash, Scope: auth.ScopeIngest,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, client.ID))
		id := recID()
		must[bool](t)(s.Meta.PutRecording(ctx, store.Recording{TenantID: tn.ID, ID: id, Title: "Lecture", State: "capturing",
			StartedAt: now, FolderID: own.ID, CreatedBy: authz.AgentCreator(client.ID), Tracks: []store.Track{{ID: "cam", Kind: store.KindCamera, Codec: "avc1.64001f"}}}))
		w.rec[i]["agent"] = id
		if i == 0 {
			w.token["tenant-admin"], w.token["nobody"], w.token["agent"], w.agentID = tok, none, agentTok, client.ID
		}
	}
	return w
}

// expect is the status the policy table gives principal (a role name, "tenant-admin",
// "nobody", "agent" or "anonymous") on a route with rule, for an object in relation rel.
func expect(rule authz.Rule, principal, rel string, page bool) int {
	const ok, forbidden, notFound = http.StatusNoContent, http.StatusForbidden, http.StatusNotFound
	if principal == "anonymous" {
		switch rule.Kind {
		case authz.KindPublic, authz.KindAccount:
			return ok
		}
		if page {
			return http.StatusSeeOther
		}
		return http.StatusUnauthorized
	}
	switch rule.Kind {
	case authz.KindPublic, authz.KindAccount, authz.KindSignedIn:
		return ok
	case authz.KindTenantAdmin:
		if principal == "tenant-admin" {
			return ok
		}
		return forbidden
	}
	// KindObject. The principal's role on the object's folder: its grant on /Own
	// reaches /Own/Child; nothing reaches /Other or the other tenant.
	can := func(a authz.Action) bool {
		switch {
		case principal == "tenant-admin":
			return rel != "foreign"
		case principal == "nobody":
			return false
		case principal == "agent":
			return (rel == "own" || rel == "child") && authz.Role(authz.RoleCreator).Allows(a) &&
				(a == authz.ActRecord || a == authz.ActLive || a == authz.ActUpload)
		}
		return (rel == "own" || rel == "child") && authz.Role(principal).Allows(a)
	}
	anywhere := func(a authz.Action) bool {
		if principal == "tenant-admin" {
			return true
		}
		return can(a) || func() bool { r := rel; rel = "own"; defer func() { rel = r }(); return can(a) }()
	}
	switch rule.Object {
	case authz.ObjectAnyFolder:
		if anywhere(rule.Action) {
			return ok
		}
		return forbidden
	case authz.ObjectFolder, authz.ObjectNewRecording:
		if rel == "foreign" {
			return notFound
		}
		if can(rule.Action) {
			return ok
		}
		if can(authz.ActView) {
			return forbidden
		}
		return notFound
	case authz.ObjectRecording:
		// The recordings in each relation are published and made by a user; the
		// agent's "own" is its own recording, its "child" a user's in its folder.
		if principal == "agent" {
			if rel != "own" {
				return notFound
			}
			if can(rule.Action) {
				return ok
			}
			return forbidden
		}
		if !can(authz.ActView) && !can(authz.ActUpload) {
			return notFound
		}
		if can(rule.Action) {
			return ok
		}
		return forbidden
	}
	return -1
}

// fill makes a request path from a route pattern for an object in relation rel.
func (w *world) fill(pattern string, rule authz.Rule, principal, rel string) (method, path string) {
	method, path, found := strings.Cut(pattern, " ")
	if !found {
		method, path = http.MethodGet, pattern
	}
	tn := 0
	if rel == "foreign" {
		tn, rel = 1, "own"
	}
	id := "0195f0b2-0000-7000-8000-999999999999"
	query := ""
	switch rule.Object {
	case authz.ObjectRecording:
		id = w.rec[tn][rel]
		if principal == "agent" && rel == "own" {
			id = w.rec[tn]["agent"]
		}
	case authz.ObjectFolder:
		id = w.folder[tn][rel]
	case authz.ObjectNewRecording:
		query = "?folder=" + w.folder[tn][rel]
	}
	r := strings.NewReplacer("{id}", id, "{track}", "cam", "{seq}", "1", "{grant}", "g1", "{token}", "t", "{rec}", id,
		"{file}", "init.mp4", "{action}", "lock", "{group}", "g1", "{user}", "u1", "{room}", "Hall", "{folder}", w.folder[0]["own"], "{$}", "")
	return method, r.Replace(path) + query
}

// TestAuthorizationMatrix runs every route of the router, for every role and the other
// kinds of caller, on an object in the caller's own folder, a folder below it, an
// unrelated folder and the other tenant, and checks each answer against the policy
// table (authz.Define) and the roles' actions: a route missing from the table fails.
func TestAuthorizationMatrix(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, s *Server) {
		w := newWorld(t, s)
		h := s.buildRoutes(true)
		registered := s.router.Patterns()
		declared := map[string]bool{}
		for _, p := range authz.Patterns() {
			declared[p] = true
		}
		for _, p := range registered {
			if !declared[p] {
				t.Errorf("route %q has no rule", p)
			}
			delete(declared, p)
		}
		for p := range declared {
			t.Errorf("rule for %q, which no route registers", p)
		}
		principals := append([]string{"tenant-admin", "nobody", "agent", "anonymous"}, func() (out []string) {
			for _, r := range authz.Roles {
				out = append(out, string(r))
			}
			return out
		}()...)
		n := 0
		for _, pattern := range registered {
			rule, _ := authz.RuleFor(pattern)
			for _, who := range principals {
				for _, rel := range relations {
					method, path := w.fill(pattern, rule, who, rel)
					page := !strings.HasPrefix(path, "/api/") && method == http.MethodGet
					want := expect(rule, who, rel, page)
					r := httptest.NewRequest(method, "https://127.0.0.1"+path, strings.NewReader("{}"))
					if who != "anonymous" {
						r.Header.Set("Authorization", "Bearer "+w.token[who])
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					n++
					if rec.Code != want {
						t.Errorf("%s as %s on %s (%s %s): %d, want %d: %s", pattern, who, rel, method, path, rec.Code, want, strings.TrimSpace(rec.Body.String()))
					}
				}
			}
		}
		t.Logf("%d routes × %d callers × %d relations: %d requests", len(registered), len(principals), len(relations), n)
	})
}
