package audit

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// Record is an audit event's JSON form: the lines of an export, of the audit file and
// of syslog, and the admin API's answer. Times are UTC.
type Record struct {
	Time      time.Time `json:"time"`
	Tenant    string    `json:"tenant"`
	Seq       int64     `json:"seq"`
	ID        string    `json:"id"`
	Action    string    `json:"action"`
	Actor     string    `json:"actor,omitempty"`
	User      string    `json:"user,omitempty"`
	IP        string    `json:"ip,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Object    string    `json:"object,omitempty"`
	Result    string    `json:"result,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	MAC       string    `json:"mac,omitempty"` // hex
}

// NewRecord is e's JSON form.
func NewRecord(e store.AuditEvent) Record {
	return Record{Time: e.At.UTC(), Tenant: e.TenantID, Seq: e.Seq, ID: e.ID, Action: e.Action, Actor: e.Actor,
		User: e.UserID, IP: e.IP, RequestID: e.RequestID, Object: e.Object, Result: e.Result, Detail: e.Detail,
		MAC: hex.EncodeToString(e.MAC)}
}

// Line is e as one line of JSON, newline included.
func Line(e store.AuditEvent) []byte {
	b, err := json.Marshal(NewRecord(e))
	if err != nil {
		// A struct of strings, numbers and a time in 1678–2261 always marshals.
		panic("audit: marshal record: " + err.Error())
	}
	return append(b, '\n')
}

// Walker is what Export reads; *store.Store is one.
type Walker interface {
	WalkAudit(ctx context.Context, tenantID string, since time.Time, fn func(store.AuditEvent) error) error
}

// Export writes the tenant's audit events at or after since to w as JSON lines, in the
// order of the chain, and returns how many it wrote.
func Export(ctx context.Context, src Walker, tenantID string, since time.Time, w io.Writer) (int, error) {
	bw := bufio.NewWriter(w)
	n := 0
	err := src.WalkAudit(ctx, tenantID, since, func(e store.AuditEvent) error {
		if _, err := bw.Write(Line(e)); err != nil {
			return fmt.Errorf("export audit events: %w", err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export audit events: %w", err)
	}
	return n, nil
}
