package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// auditVersion is the Go migration that puts audit_heads (migration 13) under row-level
// security on PostgreSQL.
const auditVersion = 14

func init() {
	registerIsolation(auditVersion, nil, "audit_heads")
}

// ErrAuditUnkeyed means an audit event was to be appended by a store that was given no
// AuditMAC: the event would not be chained, so it is refused.
var ErrAuditUnkeyed = errors.New("audit log has no MAC key")

// Results of an audited action.
const (
	ResultOK     = "ok"
	ResultDenied = "denied"
	ResultFailed = "failed"
)

// AuditEvent is one security-relevant event of a tenant. Each tenant's events form a
// chain: Seq counts them from 1 and MAC covers the previous event's MAC and this
// event's fields (see [AuditEvent.Canonical]).
type AuditEvent struct {
	ID        string
	TenantID  string
	Seq       int64 // the event's place in its tenant's chain; 0 for an event from before the chain
	At        time.Time
	Action    string // such as "account.locked", "signin.failed", "password.changed"
	Actor     string // who did it: an e-mail address, "cli", or "system"
	UserID    string // the account it concerns, if any
	IP        string
	RequestID string // the HTTP request that caused it, if any
	Object    string // what it concerns besides the account, such as "recording 0190…"
	Result    string // ResultOK, ResultDenied, ResultFailed, or empty when not stated
	Detail    string // free text; secrets appear in it only as HMACs
	MAC       []byte
}

// AuditMAC computes an event's chain MAC from the previous event's MAC (nil for a
// tenant's first event) and the event, whose Seq and every field but MAC are set. The
// server makes it from a key the store never sees.
type AuditMAC func(prev []byte, e AuditEvent) []byte

// auditCanonicalTag starts every canonical encoding, so a future format cannot be
// confused with this one.
const auditCanonicalTag = "aula-audit-v1"

// Canonical is the byte string an event's MAC covers: a version tag, then the tenant,
// seq, ID, time (Unix nanoseconds), action, actor, user, IP, request ID, object, result
// and detail, each string preceded by its length, so no two events encode alike.
func (e AuditEvent) Canonical() []byte {
	var b bytes.Buffer
	str := func(s string) {
		b.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		b.WriteString(s)
	}
	num := func(n int64) { b.Write(binary.BigEndian.AppendUint64(nil, uint64(n))) }
	str(auditCanonicalTag)
	str(e.TenantID)
	num(e.Seq)
	str(e.ID)
	num(nanos(e.At))
	for _, s := range []string{e.Action, e.Actor, e.UserID, e.IP, e.RequestID, e.Object, e.Result, e.Detail} {
		str(s)
	}
	return b.Bytes()
}

// auditState is a store's audit hooks: the MAC that chains events and the functions
// told of each committed event.
// resultOf is the result an action's name states: "….failed" and "…_failed" failed,
// "….refused", "…_refused" and "….denied" denied, anything else ok.
func resultOf(action string) string {
	for _, sep := range []string{".", "_"} {
		switch {
		case strings.HasSuffix(action, sep+"failed"):
			return ResultFailed
		case strings.HasSuffix(action, sep+"refused"), strings.HasSuffix(action, sep+"denied"):
			return ResultDenied
		}
	}
	return ResultOK
}

type auditState struct {
	mu       sync.RWMutex
	mac      AuditMAC
	set      bool // SetAuditMAC was called, even with nil
	watchers []func(AuditEvent)
}

// testAuditMAC, when set (by this package's tests only), chains the events of a store
// whose SetAuditMAC was never called.
var testAuditMAC AuditMAC

// SetAuditMAC sets the function that chains the store's audit events. Until it is set,
// AppendAudit answers ErrAuditUnkeyed.
func (s *Store) SetAuditMAC(mac AuditMAC) {
	s.audit.mu.Lock()
	defer s.audit.mu.Unlock()
	s.audit.mac, s.audit.set = mac, true
}

// OnAudit adds fn to the functions called with each audit event after its transaction
// committed, in the appender's goroutine and in the order of registration. fn must not
// block (queue the event and return) and may append audit events itself.
func (s *Store) OnAudit(fn func(AuditEvent)) {
	s.audit.mu.Lock()
	defer s.audit.mu.Unlock()
	s.audit.watchers = append(s.audit.watchers, fn)
}

func (s *Store) auditHooks() (AuditMAC, []func(AuditEvent)) {
	s.audit.mu.RLock()
	defer s.audit.mu.RUnlock()
	mac := s.audit.mac
	if !s.audit.set {
		mac = testAuditMAC
	}
	return mac, s.audit.watchers
}

type requestIDKey struct{}
type clientIPKey struct{}

// WithRequestID returns ctx carrying the ID of the HTTP request being served, which
// AppendAudit records in events that do not name one.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom is the request ID ctx carries, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithClientIP returns ctx carrying the address of the client being served, which
// AppendAudit records in events that do not name one.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIPFrom is the client address ctx carries, or "".
func ClientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// AppendAudit appends e to the end of the tenant's audit chain and returns it as stored,
// with its Seq and MAC. An empty ID gets a new UUIDv7, a zero At the current time, an
// empty RequestID or IP the one ctx carries, and an empty Result the one its action
// names (see resultOf). Audit events are never changed or
// deleted. Once committed, e is passed to the OnAudit functions.
func (s *Store) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if e.Action == "" {
		return AuditEvent{}, fmt.Errorf("audit event without action: %w", ErrInvalid)
	}
	if err := checkTimes(e.At); err != nil {
		return AuditEvent{}, err
	}
	mac, watchers := s.auditHooks()
	if mac == nil {
		return AuditEvent{}, fmt.Errorf("append audit event %s: %w", e.Action, ErrAuditUnkeyed)
	}
	if e.ID == "" {
		id, err := newID()
		if err != nil {
			return AuditEvent{}, err
		}
		e.ID = id
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	if e.RequestID == "" {
		e.RequestID = RequestIDFrom(ctx)
	}
	if e.IP == "" {
		e.IP = ClientIPFrom(ctx)
	}
	if e.Result == "" {
		e.Result = resultOf(e.Action)
	}
	e.At = roundTrip(e.At)
	err := s.write(ctx, e.TenantID, func(q querier) error {
		seq, prev, err := s.auditHead(ctx, q, e.TenantID, mac)
		if err != nil {
			return err
		}
		e.Seq = seq + 1
		e.MAC = mac(prev, e)
		if err := insertAudit(ctx, q, e); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `UPDATE audit_heads SET seq = $2, mac = $3 WHERE tenant_id = $1`, e.TenantID, e.Seq, e.MAC)
		if err != nil {
			return fmt.Errorf("append audit event: %w", err)
		}
		return nil
	})
	if err != nil {
		return AuditEvent{}, err
	}
	for _, fn := range watchers {
		fn(e)
	}
	return e, nil
}

// auditHead locks the tenant's chain head and returns its seq and MAC. The first append
// of a tenant makes the head and chains the tenant's events from before the chain
// existed (seq 0), oldest first.
func (s *Store) auditHead(ctx context.Context, q querier, tenantID string, mac AuditMAC) (int64, []byte, error) {
	_, err := q.ExecContext(ctx, `INSERT INTO audit_heads (tenant_id, seq, mac) VALUES ($1, 0, $2)
		ON CONFLICT (tenant_id) DO NOTHING`, tenantID, []byte{})
	if isForeignKeyViolation(err) {
		return 0, nil, fmt.Errorf("tenant %q: %w", tenantID, ErrNotFound)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("audit chain head: %w", err)
	}
	// SQLite's write transactions hold the database's write lock from their start
	// (BEGIN IMMEDIATE); PostgreSQL locks the head row until this transaction ends.
	lock := ""
	if s.dialect == dialectPostgres {
		lock = " FOR UPDATE"
	}
	var seq int64
	var prev []byte
	if err := q.QueryRowContext(ctx, `SELECT seq, mac FROM audit_heads WHERE tenant_id = $1`+lock, tenantID).Scan(&seq, &prev); err != nil {
		return 0, nil, fmt.Errorf("audit chain head: %w", err)
	}
	if seq > 0 {
		return seq, prev, nil
	}
	prev = nil
	legacy, err := queryAudit(ctx, q, `WHERE tenant_id = $1 AND seq = 0 ORDER BY at, id`, tenantID)
	if err != nil {
		return 0, nil, err
	}
	for _, e := range legacy {
		seq++
		e.Seq = seq
		e.MAC = mac(prev, e)
		if _, err := q.ExecContext(ctx, `UPDATE audit_events SET seq = $3, mac = $4 WHERE tenant_id = $1 AND id = $2`,
			tenantID, e.ID, e.Seq, e.MAC); err != nil {
			return 0, nil, fmt.Errorf("chain audit event %s: %w", e.ID, err)
		}
		prev = e.MAC
	}
	return seq, prev, nil
}

func insertAudit(ctx context.Context, q querier, e AuditEvent) error {
	_, err := q.ExecContext(ctx, `INSERT INTO audit_events
		(tenant_id, id, seq, at, action, actor, user_id, ip, request_id, object, result, detail, mac)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		e.TenantID, e.ID, e.Seq, nanos(e.At), e.Action, e.Actor, e.UserID, e.IP, e.RequestID, e.Object, e.Result, e.Detail, e.MAC)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("tenant %q: %w", e.TenantID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

const auditSelect = `SELECT id, tenant_id, seq, at, action, actor, user_id, ip, request_id, object, result, detail, mac
	FROM audit_events `

// queryAudit runs auditSelect with the rest of a query and returns its events.
func queryAudit(ctx context.Context, q querier, rest string, args ...any) ([]AuditEvent, error) {
	var out []AuditEvent
	err := eachAudit(ctx, q, rest, args, func(e AuditEvent) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

func eachAudit(ctx context.Context, q querier, rest string, args []any, fn func(AuditEvent) error) error {
	rows, err := q.QueryContext(ctx, auditSelect+rest, args...)
	if err != nil {
		return fmt.Errorf("audit events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.TenantID, &e.Seq, &at, &e.Action, &e.Actor, &e.UserID, &e.IP,
			&e.RequestID, &e.Object, &e.Result, &e.Detail, &e.MAC); err != nil {
			return fmt.Errorf("audit events: %w", err)
		}
		e.At = fromNanos(at)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit events: %w", err)
	}
	return nil
}

// AuditEvents returns the tenant's newest audit events, at most limit, newest first.
func (s *Store) AuditEvents(ctx context.Context, tenantID string, limit int) ([]AuditEvent, error) {
	return s.SearchAudit(ctx, tenantID, AuditFilter{Limit: limit})
}

// AuditFilter selects audit events; zero fields select everything.
type AuditFilter struct {
	ActionPrefix string    // actions that start with it ("signin." or "signin")
	Action       string    // exactly this action
	Actor        string    // exactly this actor
	UserID       string    // events about this account
	Result       string    // exactly this result
	Since, Until time.Time // At within [Since, Until)
	// BeforeSeq, when positive, selects events before that seq: the next page after an
	// event of that seq.
	BeforeSeq int64
	// Limit caps the events returned; 0 or less means 100, and more than 10000 is 10000.
	Limit int
}

// SearchAudit returns the tenant's audit events that f selects, newest first.
func (s *Store) SearchAudit(ctx context.Context, tenantID string, f AuditFilter) ([]AuditEvent, error) {
	if err := checkTimes(f.Since, f.Until); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	var where strings.Builder
	args := []any{tenantID}
	add := func(cond string, v any) {
		args = append(args, v)
		fmt.Fprintf(&where, " AND "+cond, len(args))
	}
	where.WriteString("WHERE tenant_id = $1")
	if f.ActionPrefix != "" {
		// substr rather than LIKE, so '%' and '_' in the prefix mean themselves; the
		// length is a number made here, not input.
		add("substr(action, 1, "+strconv.Itoa(utf8.RuneCountInString(f.ActionPrefix))+") = $%d", f.ActionPrefix)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.Actor != "" {
		add("actor = $%d", f.Actor)
	}
	if f.UserID != "" {
		add("user_id = $%d", f.UserID)
	}
	if f.Result != "" {
		add("result = $%d", f.Result)
	}
	if !f.Since.IsZero() {
		add("at >= $%d", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < $%d", nanos(f.Until))
	}
	if f.BeforeSeq > 0 {
		add("seq < $%d", f.BeforeSeq)
	}
	args = append(args, limit)
	rest := fmt.Sprintf("%s ORDER BY seq DESC, at DESC, id DESC LIMIT $%d", where.String(), len(args))
	var out []AuditEvent
	err := s.read(ctx, tenantID, func(q querier) error {
		var err error
		out, err = queryAudit(ctx, q, rest, args...)
		return err
	})
	return out, err
}

// WalkAudit calls fn with each of the tenant's audit events at or after since, in the
// order of the chain (events from before the chain first), until fn returns an error,
// which WalkAudit returns.
func (s *Store) WalkAudit(ctx context.Context, tenantID string, since time.Time, fn func(AuditEvent) error) error {
	if err := checkTimes(since); err != nil {
		return err
	}
	rest, args := `WHERE tenant_id = $1 ORDER BY seq, at, id`, []any{tenantID}
	if !since.IsZero() {
		rest, args = `WHERE tenant_id = $1 AND at >= $2 ORDER BY seq, at, id`, append(args, nanos(since))
	}
	return s.read(ctx, tenantID, func(q querier) error {
		return eachAudit(ctx, q, rest, args, fn)
	})
}

// AuditHead returns the seq and MAC of the tenant's last chained audit event, as the
// chain's head records them: 0 and nil before the tenant's first.
func (s *Store) AuditHead(ctx context.Context, tenantID string) (seq int64, mac []byte, err error) {
	err = s.read(ctx, tenantID, func(q querier) error {
		err := q.QueryRowContext(ctx, `SELECT seq, mac FROM audit_heads WHERE tenant_id = $1`, tenantID).Scan(&seq, &mac)
		if err == nil || errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return fmt.Errorf("audit chain head: %w", err)
	})
	if seq == 0 {
		mac = nil
	}
	return seq, mac, err
}

// AuditTenants lists every tenant (ID and name only), for verifying each one's chain.
func (s *Store) AuditTenants(ctx context.Context) ([]Tenant, error) {
	var out []Tenant
	err := s.lookup(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT id, name FROM tenants ORDER BY name, id`)
		if err != nil {
			return fmt.Errorf("list tenants: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t Tenant
			if err := rows.Scan(&t.ID, &t.Name); err != nil {
				return fmt.Errorf("list tenants: %w", err)
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}
