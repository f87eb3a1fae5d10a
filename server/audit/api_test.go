package audit

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/store"
)

// principalTenant is how the server gives the API the caller's tenant.
func principalTenant(ctx context.Context) (string, bool) {
	p, ok := authz.PrincipalFrom(ctx)
	return p.TenantID, ok
}

func TestAPI(t *testing.T) {
	db := newChainDB(t, "sqlite", 5) // signin events a minute apart from 08:00
	ctx := context.Background()
	other, err := db.st.CreateTenant(ctx, store.Tenant{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.st.AppendAudit(ctx, store.AuditEvent{TenantID: other.ID, Action: "signin", Actor: "theirs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.st.AppendAudit(ctx, store.AuditEvent{TenantID: db.tenant, Action: "sso.configured", Actor: "admin@example.org",
		At: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), Result: store.ResultOK}); err != nil {
		t.Fatal(err)
	}
	api := API{Log: db.st, Tenant: principalTenant}
	get := func(query string, p *auth.Principal) (int, string, Page) {
		t.Helper()
		r := httptest.NewRequest("GET", "/api/v1/admin/audit"+query, nil)
		if p != nil {
			r = r.WithContext(authz.WithPrincipal(r.Context(), *p))
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		var page Page
		if w.Code == http.StatusOK {
			if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
		}
		return w.Code, w.Header().Get("Content-Type"), page
	}
	if code, ct, _ := get("", nil); code != http.StatusUnauthorized || ct != "application/problem+json" {
		t.Errorf("without a principal: %d %s", code, ct)
	}
	admin := &auth.Principal{TenantID: db.tenant, UserID: "u-admin", Scope: auth.ScopeAdmin}
	code, _, page := get("", admin)
	if code != http.StatusOK || len(page.Events) != 6 || page.Events[0].Action != "sso.configured" || page.Events[0].MAC == "" || page.Next != 0 {
		t.Fatalf("all: %d %+v", code, page)
	}
	for _, e := range page.Events {
		if e.Tenant != db.tenant {
			t.Errorf("another tenant's event %+v", e)
		}
	}
	if _, _, page := get("?action=sso.&actor=admin@example.org&result=ok", admin); len(page.Events) != 1 {
		t.Errorf("filtered: %+v", page)
	}
	if _, _, page := get("?since=2026-11-02T08:02:00Z&until=2026-11-02T08:04:00Z", admin); len(page.Events) != 2 || page.Events[0].Seq != 4 {
		t.Errorf("since/until: %+v", page)
	}
	_, _, page = get("?limit=4", admin)
	if len(page.Events) != 4 || page.Next != 3 {
		t.Fatalf("first page: %+v", page)
	}
	if _, _, page := get("?limit=4&before=3", admin); len(page.Events) != 2 || page.Events[0].Seq != 2 || page.Next != 0 {
		t.Errorf("second page: %+v", page)
	}
	for _, q := range []string{"?since=yesterday", "?limit=0", "?limit=100000", "?before=x", "?until=0001-01-01T00:00:00Z"} {
		if code, ct, _ := get(q, admin); code != http.StatusBadRequest || ct != "application/problem+json" {
			t.Errorf("%s: %d %s", q, code, ct)
		}
	}
}
