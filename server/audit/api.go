package audit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
)

// Searcher searches a tenant's audit events; *store.Store is one.
type Searcher interface {
	SearchAudit(ctx context.Context, tenantID string, f store.AuditFilter) ([]store.AuditEvent, error)
}

// API answers GET /api/v1/admin/audit: the caller's tenant's audit events that the
// query selects (see ParseQuery), newest first, as JSON. The router's guard lets only
// the tenant's administrators by; the handler reads the caller's tenant from Tenant.
type API struct {
	Log Searcher
	// Tenant is the tenant of the caller the guard authenticated, from the request's
	// context; false answers 401.
	Tenant func(ctx context.Context) (tenantID string, ok bool)
	Logger *slog.Logger
}

// Page is the API's answer.
type Page struct {
	Events []Record `json:"events"`
	// Next is the query parameter "before" for the next page, or 0 at the last one.
	Next int64 `json:"next,omitempty"`
}

func (a API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant, ok := "", false
	if a.Tenant != nil {
		tenant, ok = a.Tenant(r.Context())
	}
	if !ok || tenant == "" {
		problem.Write(w, r, http.StatusUnauthorized, "unauthenticated", "Sign in as the tenant's administrator to read its audit log.")
		return
	}
	f, err := ParseQuery(r.URL.Query())
	if err != nil {
		problem.Write(w, r, http.StatusBadRequest, "bad-query", err.Error())
		return
	}
	events, err := a.Log.SearchAudit(r.Context(), tenant, f)
	if errors.Is(err, store.ErrInvalid) {
		problem.Write(w, r, http.StatusBadRequest, "bad-query", "A time in the query is out of range.")
		return
	}
	if err != nil {
		if a.Logger != nil {
			a.Logger.Error("audit search", "tenant", tenant, "err", err)
		}
		problem.Write(w, r, http.StatusInternalServerError, "internal", "The audit log could not be read; it has been logged.")
		return
	}
	p := Page{Events: make([]Record, 0, len(events))}
	for _, e := range events {
		p.Events = append(p.Events, NewRecord(e))
	}
	if len(events) == f.Limit && events[len(events)-1].Seq > 1 {
		p.Next = events[len(events)-1].Seq
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(p)
}
