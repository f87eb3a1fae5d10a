package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// call makes one request to h as the principal and decodes a JSON answer into out.
func call(t *testing.T, h http.Handler, token, method, path, body string, out any) int {
	t.Helper()
	r := httptest.NewRequest(method, "https://127.0.0.1"+path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if out != nil && rec.Code < 300 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, rec.Body.String())
		}
	}
	if rec.Code >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		t.Errorf("%s %s: %d without problem+json: %s", method, path, rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Code
}

type listed struct {
	Recordings []struct {
		ID string `json:"id"`
	} `json:"recordings"`
}

func (l listed) ids() []string {
	var out []string
	for _, r := range l.Recordings {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

// TestTenantIsolation: with identical names in two tenants, nothing of the other
// tenant is listed, and every route given its IDs answers 404, on the real handlers.
func TestTenantIsolation(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, s *Server) {
		w := newWorld(t, s)
		h := s.routes()
		admin := w.token["tenant-admin"]
		var l listed
		if c := call(t, h, admin, "GET", "/api/v1/recordings", "", &l); c != 200 {
			t.Fatalf("list: %d", c)
		}
		for _, id := range l.ids() {
			for _, b := range w.rec[1] {
				if id == b {
					t.Errorf("tenant alpha's list holds beta's recording %s", id)
				}
			}
		}
		if len(l.Recordings) != 4 {
			t.Errorf("alpha's administrator lists %d recordings, want 4", len(l.Recordings))
		}
		var folders struct {
			Folders []struct{ ID, Path string } `json:"folders"`
		}
		call(t, h, admin, "GET", "/api/v1/folders", "", &folders)
		for _, f := range folders.Folders {
			for _, b := range w.folder[1] {
				if f.ID == b {
					t.Errorf("alpha's folder list holds beta's folder %s", f.Path)
				}
			}
		}
		groups := must[store.Group](t)(s.Meta.CreateGroup(t.Context(), store.Group{TenantID: w.tenant[1].ID, Name: "Staff", Source: store.GroupLocal}))
		users := must[[]store.User](t)(s.Meta.ListUsers(t.Context(), w.tenant[1].ID))
		rb, fb := w.rec[1]["own"], w.folder[1]["own"]
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/api/v1/recordings/" + rb, ""},
			{"PATCH", "/api/v1/recordings/" + rb, `{"title":"x"}`},
			{"DELETE", "/api/v1/recordings/" + rb, ""},
			{"PUT", "/api/v1/recordings/" + rb + "/published", ""},
			{"GET", "/api/v1/recordings/" + rb + "/tracks/cam/media.mp4", ""},
			{"GET", "/api/v1/recordings/" + rb + "/manifest", ""},
			{"GET", "/api/v1/recordings?folder=" + fb, ""},
			{"PATCH", "/api/v1/recordings/" + w.rec[0]["own"], `{"folder":"` + fb + `"}`},
			{"PATCH", "/api/v1/folders/" + fb, `{"name":"x"}`},
			{"DELETE", "/api/v1/folders/" + fb, ""},
			{"GET", "/api/v1/folders/" + fb + "/grants", ""},
			{"POST", "/api/v1/folders", `{"parent":"` + fb + `","name":"x"}`},
			{"PUT", "/api/v1/recordings/0195f0b2-0000-7000-8000-777777777777?folder=" + fb, `{}`},
			{"PUT", "/api/v1/admin/groups/" + groups.ID + "/members/" + users[0].ID, ""},
			{"DELETE", "/api/v1/admin/groups/" + groups.ID, ""},
			{"PUT", "/api/v1/admin/rooms/Hall/folders/" + fb, ""},
			{"GET", "/recordings/" + rb, ""},
		} {
			if got := call(t, h, admin, c.method, c.path, c.body, nil); got != http.StatusNotFound {
				t.Errorf("%s %s with beta's IDs: %d, want 404", c.method, c.path, got)
			}
		}
		if _, err := s.Meta.Recording(t.Context(), w.tenant[1].ID, rb); err != nil {
			t.Errorf("beta's recording after alpha's attempts: %v", err)
		}
	})
}

// TestFoldersAndGrants: what users do with folders, grants, publishing and moves, on the
// real handlers.
func TestFoldersAndGrants(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, s *Server) {
		w := newWorld(t, s)
		h := s.routes()
		ctx := t.Context()
		tn := w.tenant[0].ID
		viewer, creator, publisher, manager := w.token["viewer"], w.token["creator"], w.token["publisher"], w.token["manager"]
		own, child, other := w.rec[0]["own"], w.rec[0]["child"], w.rec[0]["other"]
		var l listed
		call(t, h, viewer, "GET", "/api/v1/recordings", "", &l)
		if got, want := l.ids(), sorted(own, child); !slices.Equal(got, want) {
			t.Errorf("viewer lists %v, want %v (own folder and below, published)", got, want)
		}
		// Unpublished: the viewer no longer sees it; the creator does; the publisher
		// publishes it back.
		if c := call(t, h, publisher, "DELETE", "/api/v1/recordings/"+own+"/published", "", nil); c != 204 {
			t.Fatalf("unpublish: %d", c)
		}
		call(t, h, viewer, "GET", "/api/v1/recordings", "", &l)
		if slices.Contains(l.ids(), own) {
			t.Error("viewer still lists the unpublished recording")
		}
		if c := call(t, h, viewer, "GET", "/api/v1/recordings/"+own, "", nil); c != 404 {
			t.Errorf("viewer reads an unpublished recording: %d, want 404", c)
		}
		if c := call(t, h, creator, "GET", "/api/v1/recordings/"+own, "", nil); c != 200 {
			t.Errorf("creator reads an unpublished recording: %d, want 200", c)
		}
		call(t, h, publisher, "PUT", "/api/v1/recordings/"+own+"/published", "", nil)
		if c := call(t, h, viewer, "GET", "/api/v1/recordings/"+own, "", nil); c != 200 {
			t.Errorf("viewer reads the republished recording: %d", c)
		}
		// A creator may not move a recording into a folder it has no role in.
		if c := call(t, h, creator, "PATCH", "/api/v1/recordings/"+own, `{"folder":"`+w.folder[0]["other"]+`"}`, nil); c != 404 {
			t.Errorf("creator moves into /Other: %d, want 404", c)
		}
		if c := call(t, h, creator, "PATCH", "/api/v1/recordings/"+own, `{"title":"Renamed","folder":"`+w.folder[0]["child"]+`"}`, nil); c != 200 {
			t.Errorf("creator moves into /Own/Child: %d", c)
		}
		rec := must[store.Recording](t)(s.Meta.Recording(ctx, tn, own))
		if rec.Title != "Renamed" || rec.FolderID != w.folder[0]["child"] {
			t.Errorf("after the move: %q in %s", rec.Title, rec.FolderID)
		}
		// The manager makes a subfolder, grants a viewer there, and may not grant admin.
		var f struct{ ID string }
		if c := call(t, h, manager, "POST", "/api/v1/folders", `{"parent":"`+w.folder[0]["own"]+`","name":"Seminars"}`, &f); c != 201 {
			t.Fatalf("manager makes a folder: %d", c)
		}
		if c := call(t, h, manager, "POST", "/api/v1/folders", `{"parent":"`+w.folder[0]["own"]+`","name":"Seminars"}`, nil); c != 409 {
			t.Errorf("the same folder again: %d, want 409", c)
		}
		if c := call(t, h, manager, "POST", "/api/v1/folders", `{"parent":"`+w.folder[0]["other"]+`","name":"X"}`, nil); c != 404 {
			t.Errorf("manager makes a folder in /Other: %d, want 404", c)
		}
		if c := call(t, h, manager, "POST", "/api/v1/folders/"+f.ID+"/grants", `{"email":"nobody@uni.example","role":"admin"}`, nil); c != 403 {
			t.Errorf("manager grants admin: %d, want 403", c)
		}
		if c := call(t, h, manager, "POST", "/api/v1/folders/"+f.ID+"/grants", `{"email":"nobody@uni.example","role":"owner"}`, nil); c != 400 {
			t.Errorf("a grant of an unknown role: %d, want 400", c)
		}
		var g struct{ ID string }
		if c := call(t, h, manager, "POST", "/api/v1/folders/"+w.folder[0]["child"]+"/grants", `{"email":"nobody@uni.example","role":"viewer"}`, &g); c != 201 {
			t.Fatalf("manager grants viewer: %d", c)
		}
		call(t, h, w.token["nobody"], "GET", "/api/v1/recordings", "", &l)
		if got, want := l.ids(), sorted(own, child); !slices.Equal(got, want) {
			t.Errorf("after the grant on /Own/Child the user lists %v, want %v", got, want)
		}
		if c := call(t, h, manager, "DELETE", "/api/v1/folders/"+w.folder[0]["child"]+"/grants/"+g.ID, "", nil); c != 204 {
			t.Errorf("manager takes the grant back: %d", c)
		}
		call(t, h, w.token["nobody"], "GET", "/api/v1/recordings", "", &l)
		if len(l.Recordings) != 0 {
			t.Errorf("after the grant was taken back the user lists %v", l.ids())
		}
		if c := call(t, h, manager, "DELETE", "/api/v1/folders/"+w.folder[0]["child"], "", nil); c != 409 {
			t.Errorf("deleting a folder that holds recordings: %d, want 409", c)
		}
		if c := call(t, h, manager, "DELETE", "/api/v1/folders/"+f.ID, "", nil); c != 204 {
			t.Errorf("deleting an empty folder: %d", c)
		}
		if c := call(t, h, w.token["tenant-admin"], "DELETE", "/api/v1/folders/"+tn, "", nil); c != 409 {
			t.Errorf("deleting the root folder: %d, want 409", c)
		}
		// Deleting a recording: gone, and audited.
		if c := call(t, h, creator, "DELETE", "/api/v1/recordings/"+child, "", nil); c != 204 {
			t.Errorf("creator deletes: %d", c)
		}
		if c := call(t, h, creator, "GET", "/api/v1/recordings/"+child, "", nil); c != 404 {
			t.Errorf("deleted recording: %d, want 404", c)
		}
		if c := call(t, h, creator, "DELETE", "/api/v1/recordings/"+other, "", nil); c != 404 {
			t.Errorf("creator deletes in /Other: %d, want 404", c)
		}
		events := must[[]store.AuditEvent](t)(s.Meta.AuditEvents(ctx, tn, 100))
		seen := map[string]bool{}
		for _, e := range events {
			seen[e.Action] = true
		}
		for _, a := range []string{"recording.published", "recording.unpublished", "recording.edited", "recording.deleted", "folder.created", "folder.deleted", "grant.added", "grant.removed"} {
			if !seen[a] {
				t.Errorf("no %s audit event", a)
			}
		}
	})
}

// TestAgentLeastPrivilege: a room's agent creates recordings only in its room's
// folders, and touches only its own.
func TestAgentLeastPrivilege(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, s *Server) {
		w := newWorld(t, s)
		h := s.routes()
		agent := w.token["agent"]
		body := `{"id":"0195f0b2-0000-7000-8000-555555555555","title":"Room recording","state":"capturing","started_at":"2026-11-23T09:00:00Z","tracks":[{"id":"cam","kind":"camera","codec":"avc1.64001f","segments":[]}]}`
		if c := call(t, h, agent, "PUT", "/api/v1/recordings/0195f0b2-0000-7000-8000-555555555555?folder="+w.folder[0]["other"], body, nil); c != 404 {
			t.Errorf("agent records into an unbound folder: %d, want 404", c)
		}
		if c := call(t, h, agent, "PUT", "/api/v1/recordings/0195f0b2-0000-7000-8000-555555555555", body, nil); c != 201 {
			t.Fatalf("agent records into its room's folder: %d", c)
		}
		rec := must[store.Recording](t)(s.Meta.Recording(t.Context(), w.tenant[0].ID, "0195f0b2-0000-7000-8000-555555555555"))
		if rec.FolderID != w.folder[0]["own"] || rec.CreatedBy != "agent:"+w.agentID {
			t.Errorf("agent's recording in %s by %q", rec.FolderID, rec.CreatedBy)
		}
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/recordings/" + w.rec[0]["own"] + "/manifest"},
			{"POST", "/api/v1/recordings/" + w.rec[0]["own"] + "/complete"},
			{"GET", "/api/v1/recordings/" + w.rec[0]["agent"]},
			{"GET", "/api/v1/folders/" + w.folder[0]["own"] + "/grants"},
		} {
			got := call(t, h, agent, c.method, c.path, "", nil)
			if got != 404 && got != 403 {
				t.Errorf("agent %s %s: %d, want 403 or 404", c.method, c.path, got)
			}
		}
		var l listed
		call(t, h, agent, "GET", "/api/v1/recordings", "", &l)
		if len(l.Recordings) != 0 {
			t.Errorf("agent lists recordings: %v", l.ids())
		}
		// Revoked, its token stops working.
		if err := s.Meta.RevokeOAuthClient(t.Context(), w.tenant[0].ID, w.agentID, must[store.Recording](t)(s.Meta.Recording(t.Context(), w.tenant[0].ID, w.rec[0]["own"])).StartedAt); err != nil {
			t.Fatal(err)
		}
		s.Authorizer().Invalidate()
		if c := call(t, h, agent, "GET", "/api/v1/recordings/0195f0b2-0000-7000-8000-555555555555/manifest", "", nil); c != 401 {
			t.Errorf("revoked agent: %d, want 401", c)
		}
	})
}

// TestLockedAccountToken: locking an account stops its API tokens.
func TestLockedAccountToken(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, s *Server) {
		w := newWorld(t, s)
		h := s.routes()
		viewer := w.token["viewer"]
		if c := call(t, h, viewer, "GET", "/api/v1/recordings", "", nil); c != 200 {
			t.Fatalf("before the lock: %d", c)
		}
		u := must[store.User](t)(s.Meta.UserByEmail(t.Context(), w.tenant[0].ID, "role-viewer@uni.example"))
		now := time.Now()
		if err := s.Meta.SetUserLocked(t.Context(), w.tenant[0].ID, u.ID, &now); err != nil {
			t.Fatal(err)
		}
		s.Authorizer().Invalidate()
		if c := call(t, h, viewer, "GET", "/api/v1/recordings", "", nil); c != 401 {
			t.Errorf("a locked account's token: %d, want 401", c)
		}
	})
}

func sorted(ids ...string) []string { slices.Sort(ids); return ids }
