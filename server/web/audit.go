package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aulacapture/aula/server/audit"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/store"
)

func init() {
	authz.Define("GET /admin/audit", authz.TenantAdmin)
}

// AuditLog is what the audit log page reads; *store.Store is one.
type AuditLog interface {
	SearchAudit(ctx context.Context, tenantID string, f store.AuditFilter) ([]store.AuditEvent, error)
}

// auditPageSize is how many events the page shows at a time.
const auditPageSize = 100

// registerAudit adds the audit log page when h.AuditLog is set.
func (h *Handler) registerAudit(mux authz.Mux) {
	if h.AuditLog == nil {
		return
	}
	mux.HandleFunc("GET /admin/audit", h.admin(h.auditPage))
}

// auditView is the audit page's Data: the filters as typed and the events found.
type auditView struct {
	Action, Actor, Result, Since, Until string
	Results                             []string
	Events                              []auditRow
	Next                                string // the URL of the next (older) page, or ""
}

type auditRow struct {
	store.AuditEvent
	When string
}

// auditPage searches the administrator's tenant's audit log, newest first.
func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request, v visitor) {
	q := r.URL.Query()
	view := &auditView{Action: q.Get("action"), Actor: q.Get("actor"), Result: q.Get("result"),
		Since: q.Get("since"), Until: q.Get("until"),
		Results: []string{store.ResultOK, store.ResultDenied, store.ResultFailed}}
	p := page{Title: "Audit log", Visitor: v, Data: view}
	f, err := audit.ParseQuery(q)
	if err == nil {
		f.Limit = auditPageSize
		var events []store.AuditEvent
		events, err = h.AuditLog.SearchAudit(r.Context(), v.user.TenantID, f)
		if err != nil && !errors.Is(err, store.ErrInvalid) {
			h.internal(w, r, err)
			return
		}
		for _, e := range events {
			view.Events = append(view.Events, auditRow{AuditEvent: e, When: e.At.UTC().Format(time.DateTime)})
		}
		if len(events) == auditPageSize && events[len(events)-1].Seq > 1 {
			next := url.Values{}
			for _, k := range []string{"action", "actor", "result", "since", "until"} {
				if s := q.Get(k); s != "" {
					next.Set(k, s)
				}
			}
			next.Set("before", strconv.FormatInt(events[len(events)-1].Seq, 10))
			view.Next = "/admin/audit?" + next.Encode()
		}
	}
	status := http.StatusOK
	if err != nil {
		status, p.Error = http.StatusBadRequest, "The search could not be read: check the times (such as 2026-11-01T00:00:00Z)."
	}
	h.render(w, r, status, "audit", p)
}
