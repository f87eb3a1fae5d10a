package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/audit"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// TestAuditWiring: on a real server, events are chained with the master key's MAC,
// copied to the audit file, watched by the alerts, and listed by the API for the
// tenant's administrator only.
func TestAuditWiring(t *testing.T) {
	cfg := Default()
	cfg.Data = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.AuditFile = filepath.Join(cfg.Data, "audit.jsonl")
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	rcpt, wrapped, err := s.Master.NewTenantKey()
	if err != nil {
		t.Fatal(err)
	}
	tn, err := s.Meta.CreateTenant(ctx, store.Tenant{Name: "uni", Recipient: rcpt, WrappedIdentity: wrapped})
	if err != nil {
		t.Fatal(err)
	}
	token := func(email, role string) string {
		u, err := s.Meta.CreateUser(ctx, store.User{TenantID: tn.ID, Email: email, PasswordHash: "x", Role: role})
		if err != nil {
			t.Fatal(err)
		}
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Meta.CreateToken(ctx, store.Token{TenantID: tn.ID, UserID: u.ID, Hash: hash, Scope: auth.ScopeAdmin,
			ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin, viewer := token("admin@uni.example", store.RoleAdmin), token("viewer@uni.example", store.RoleViewer)
	if _, err := s.Meta.AppendAudit(ctx, store.AuditEvent{TenantID: tn.ID, Action: "firewall.changed", Actor: "admin@uni.example"}); err != nil {
		t.Fatal(err)
	}

	get := func(tok string) (int, audit.Page) {
		r := httptest.NewRequest("GET", "https://127.0.0.1/api/v1/admin/audit?limit=10", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		var p audit.Page
		if w.Code == http.StatusOK {
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
		}
		return w.Code, p
	}
	var page audit.Page
	for deadline := time.Now().Add(10 * time.Second); ; {
		var code int
		if code, page = get(admin); code != http.StatusOK {
			t.Fatalf("administrator: %d", code)
		}
		if len(page.Events) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(page.Events) != 2 || page.Events[0].Action != "alert.config_changed" || page.Events[1].Action != "firewall.changed" {
		t.Fatalf("events %+v", page.Events)
	}
	if code, _ := get(viewer); code != http.StatusForbidden {
		t.Errorf("viewer: %d", code)
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", code)
	}
	rep, err := audit.Verify(ctx, s.Meta, tn.ID, audit.MAC(s.Master.DeriveKey(audit.KeyPurpose)))
	if err != nil || !rep.OK() || rep.Events != 2 {
		t.Errorf("verify: %+v %v", rep, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cfg.AuditFile)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 2 || !strings.Contains(lines[0], `"action":"firewall.changed"`) ||
		!strings.Contains(lines[1], `"action":"alert.config_changed"`) {
		t.Errorf("audit file:\n%s", data)
	}
}
