package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// fakeAuditLog is an AuditLog of a function field.
type fakeAuditLog func(ctx context.Context, tenantID string, f store.AuditFilter) ([]store.AuditEvent, error)

func (f fakeAuditLog) SearchAudit(ctx context.Context, tenantID string, filter store.AuditFilter) ([]store.AuditEvent, error) {
	return f(ctx, tenantID, filter)
}

func TestAuditPage(t *testing.T) {
	var asked []store.AuditFilter
	var tenants []string
	h := &Handler{AuditLog: fakeAuditLog(func(_ context.Context, tenantID string, f store.AuditFilter) ([]store.AuditEvent, error) {
		asked, tenants = append(asked, f), append(tenants, tenantID)
		var out []store.AuditEvent
		for i := range f.Limit {
			seq := int64(250 - i)
			if f.BeforeSeq > 0 {
				seq = f.BeforeSeq - 1 - int64(i)
			}
			if seq < 1 {
				break
			}
			out = append(out, store.AuditEvent{Seq: seq, ID: fmt.Sprint("id-", seq), At: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC),
				Action: "signin.failed", Actor: "<ann>@example.org", IP: "192.0.2.1", Result: store.ResultFailed, RequestID: "req-1",
				Object: "recording 0190", UserID: "u-ann", Detail: "wrong password"})
		}
		return out, nil
	})}
	h.Register(http.NewServeMux())
	admin := visitor{user: store.User{TenantID: "t1", ID: "admin", Email: "admin@uni.example", Role: store.RoleAdmin}}
	get := func(query string) (int, string) {
		r := httptest.NewRequest("GET", "/admin/audit"+query, nil)
		w := httptest.NewRecorder()
		h.auditPage(w, r, admin)
		return w.Code, w.Body.String()
	}
	code, body := get("?action=signin.&actor=ann&result=failed&since=2026-11-01T00:00")
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, body)
	}
	f := asked[0]
	if tenants[0] != "t1" || f.ActionPrefix != "signin." || f.Actor != "ann" || f.Result != "failed" || f.Limit != auditPageSize ||
		!f.Since.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("searched %s %+v", tenants[0], f)
	}
	for _, want := range []string{"<td>250</td><td>2026-11-02 08:00:00</td><td>signin.failed</td><td>failed</td><td>&lt;ann&gt;@example.org</td>",
		"recording 0190; account u-ann", "<code>req-1</code>", `value="signin."`, `<option selected>failed</option>`,
		`href="/admin/audit?action=signin.&amp;actor=ann&amp;before=151&amp;result=failed&amp;since=2026-11-01T00%3A00"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if _, body := get("?before=51"); strings.Contains(body, "Older events") || !strings.Contains(body, "<td>1</td>") || asked[1].BeforeSeq != 51 {
		t.Errorf("last page: %+v", asked[1])
	}
	if code, body := get("?since=yesterday"); code != http.StatusBadRequest || !strings.Contains(body, `class="error"`) {
		t.Errorf("bad time: %d", code)
	}
}
