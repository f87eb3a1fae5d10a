package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The package's tests chain audit events with a fixed key unless a test sets its own;
// the server sets one derived from the master key (server/audit).
func init() { testAuditMAC = hmacChain([]byte("store tests' audit key")) }

func hmacChain(key []byte) AuditMAC {
	return func(prev []byte, e AuditEvent) []byte {
		h := hmac.New(sha256.New, key)
		h.Write(prev)
		h.Write(e.Canonical())
		return h.Sum(nil)
	}
}

// checkChain walks the tenant's chain and fails unless it holds want events numbered 1
// to want, each MAC following from the one before, with the head on the last.
func checkChain(t *testing.T, s *Store, mac AuditMAC, tenantID string, want int) {
	t.Helper()
	ctx := context.Background()
	var prev []byte
	n := 0
	check(t, s.WalkAudit(ctx, tenantID, time.Time{}, func(e AuditEvent) error {
		n++
		if e.Seq != int64(n) {
			return fmt.Errorf("event %d has seq %d", n, e.Seq)
		}
		if !hmac.Equal(mac(prev, e), e.MAC) {
			return fmt.Errorf("event %d: MAC does not follow", n)
		}
		prev = e.MAC
		return nil
	}))
	if n != want {
		t.Fatalf("chain of %d events, want %d", n, want)
	}
	seq, head, err := s.AuditHead(ctx, tenantID)
	check(t, err)
	if seq != int64(want) || !bytes.Equal(head, prev) {
		t.Fatalf("head %d %x, want %d %x", seq, head, want, prev)
	}
}

// TestAuditChainConcurrent: 8 writers on two stores (two servers on one database)
// append 50 events each; the chain has no gap, no fork and no duplicate.
func TestAuditChainConcurrent(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s1, s2 := openStore(t, dsn), openStore(t, dsn)
		a := must[Tenant](t)(s1.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s1.CreateTenant(ctx, Tenant{Name: "b"}))
		const writers, each = 8, 50
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, tn := s1, a
				if w%2 == 1 {
					s = s2
				}
				if w == writers-1 {
					tn = b // another tenant's chain beside
				}
				for i := range each {
					if _, err := s.AppendAudit(ctx, AuditEvent{TenantID: tn.ID, Action: "test.append", Actor: "w",
						Detail: fmt.Sprintf("writer %d event %d", w, i)}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		checkChain(t, s1, testAuditMAC, a.ID, (writers-1)*each)
		checkChain(t, s2, testAuditMAC, b.ID, each)
	})
}

func TestAppendAudit(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		tn := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		var seen []AuditEvent
		s.OnAudit(func(e AuditEvent) { seen = append(seen, e) })

		rctx := WithClientIP(WithRequestID(ctx, "req-1"), "192.0.2.7")
		e := must[AuditEvent](t)(s.AppendAudit(rctx, AuditEvent{TenantID: tn.ID, Action: "recording.deleted", Actor: "a@example.org",
			Object: "recording 0190", Result: ResultOK}))
		if e.Seq != 1 || len(e.MAC) != sha256.Size || e.RequestID != "req-1" || e.IP != "192.0.2.7" || e.ID == "" || e.At.IsZero() {
			t.Errorf("appended %+v", e)
		}
		// An IP or request ID given wins over the context's.
		e2 := must[AuditEvent](t)(s.AppendAudit(rctx, AuditEvent{TenantID: tn.ID, Action: "signin.failed", IP: "198.51.100.1",
			RequestID: "own"}))
		if e2.IP != "198.51.100.1" || e2.RequestID != "own" || e2.Seq != 2 || e2.Result != ResultFailed {
			t.Errorf("appended %+v", e2)
		}
		if len(seen) != 2 || seen[0].Seq != 1 || !bytes.Equal(seen[1].MAC, e2.MAC) {
			t.Errorf("OnAudit saw %+v", seen)
		}
		got := must[[]AuditEvent](t)(s.AuditEvents(ctx, tn.ID, 10))
		if len(got) != 2 || got[0].ID != e2.ID || got[1].Object != "recording 0190" || got[1].Result != ResultOK ||
			!bytes.Equal(got[1].MAC, e.MAC) || got[1].RequestID != "req-1" {
			t.Errorf("read back %+v", got)
		}
		if !bytes.Equal(got[1].Canonical(), e.Canonical()) {
			t.Error("the event read back encodes differently from the one appended")
		}

		_, err := s.AppendAudit(ctx, AuditEvent{TenantID: tn.ID})
		wantErr(t, "no action", err, ErrInvalid)
		_, err = s.AppendAudit(ctx, AuditEvent{TenantID: "no-such-tenant", Action: "x"})
		wantErr(t, "unknown tenant", err, ErrNotFound)

		s.SetAuditMAC(nil)
		_, err = s.AppendAudit(ctx, AuditEvent{TenantID: tn.ID, Action: "x"})
		wantErr(t, "without a MAC", err, ErrAuditUnkeyed)
		if len(seen) != 2 {
			t.Errorf("OnAudit called for a refused event: %+v", seen)
		}
		checkChain(t, s, testAuditMAC, tn.ID, 2)
	})
}

func TestResultOf(t *testing.T) {
	for action, want := range map[string]string{"signin.failed": ResultFailed, "signin.2fa_failed": ResultFailed,
		"password.change_failed": ResultFailed, "signin.refused": ResultDenied, "signin.sso_refused": ResultDenied,
		"access.denied": ResultDenied, "signin": ResultOK, "account.locked": ResultOK, "failed": ResultOK} {
		if got := resultOf(action); got != want {
			t.Errorf("%s: %s, want %s", action, got, want)
		}
	}
}

// TestCanonicalDistinct: moving bytes from one field to the next changes the encoding.
func TestCanonicalDistinct(t *testing.T) {
	a := AuditEvent{TenantID: "t", Action: "ab", Actor: "c", Seq: 1}
	b := AuditEvent{TenantID: "t", Action: "a", Actor: "bc", Seq: 1}
	c := a
	c.Seq = 2
	if bytes.Equal(a.Canonical(), b.Canonical()) || bytes.Equal(a.Canonical(), c.Canonical()) {
		t.Error("different events encode alike")
	}
}

// TestAuditLegacyChained: events from before the chain are chained, oldest first, by
// the tenant's first append.
func TestAuditLegacyChained(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		tn := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		check(t, s.write(ctx, tn.ID, func(q querier) error {
			for i, id := range []string{"old-2", "old-1"} {
				if _, err := q.ExecContext(ctx, `INSERT INTO audit_events (tenant_id, id, at, action, actor, user_id, ip, detail)
					VALUES ($1, $2, $3, 'signin', '', '', '', '')`, tn.ID, id, nanos(t0.Add(time.Duration(-i)*time.Hour))); err != nil {
					return err
				}
			}
			return nil
		}))
		must[AuditEvent](t)(s.AppendAudit(ctx, AuditEvent{TenantID: tn.ID, Action: "x"}))
		checkChain(t, s, testAuditMAC, tn.ID, 3)
		got := must[[]AuditEvent](t)(s.AuditEvents(ctx, tn.ID, 10))
		if got[2].ID != "old-1" || got[1].ID != "old-2" {
			t.Errorf("order %s %s %s", got[0].ID, got[1].ID, got[2].ID)
		}
	})
}

func TestSearchAudit(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		tn := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		other := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		add := func(tenant, action, actor, result string, at time.Time) {
			must[AuditEvent](t)(s.AppendAudit(ctx, AuditEvent{TenantID: tenant, Action: action, Actor: actor, Result: result, At: at, UserID: "u-" + actor}))
		}
		add(tn.ID, "signin", "ann", ResultOK, t0)
		add(tn.ID, "signin.failed", "bob", ResultFailed, t0.Add(time.Minute))
		add(tn.ID, "signin_x", "bob", ResultFailed, t0.Add(2*time.Minute))
		add(tn.ID, "recording.deleted", "ann", ResultOK, t0.Add(3*time.Minute))
		add(other.ID, "signin.failed", "bob", ResultFailed, t0)
		actions := func(f AuditFilter) string {
			t.Helper()
			var out []string
			for _, e := range must[[]AuditEvent](t)(s.SearchAudit(ctx, tn.ID, f)) {
				out = append(out, e.Action)
			}
			return fmt.Sprint(out)
		}
		for _, c := range []struct {
			f    AuditFilter
			want string
		}{
			{AuditFilter{}, "[recording.deleted signin_x signin.failed signin]"},
			{AuditFilter{ActionPrefix: "signin."}, "[signin.failed]"},
			{AuditFilter{ActionPrefix: "signin"}, "[signin_x signin.failed signin]"},
			{AuditFilter{ActionPrefix: "signin%"}, "[]"},
			{AuditFilter{Action: "signin"}, "[signin]"},
			{AuditFilter{Actor: "ann"}, "[recording.deleted signin]"},
			{AuditFilter{UserID: "u-bob"}, "[signin_x signin.failed]"},
			{AuditFilter{Result: ResultFailed}, "[signin_x signin.failed]"},
			{AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, "[signin_x signin.failed]"},
			{AuditFilter{Limit: 2}, "[recording.deleted signin_x]"},
			{AuditFilter{Limit: 2, BeforeSeq: 3}, "[signin.failed signin]"},
		} {
			if got := actions(c.f); got != c.want {
				t.Errorf("%+v: %s, want %s", c.f, got, c.want)
			}
		}
		n := 0
		check(t, s.WalkAudit(ctx, tn.ID, t0.Add(2*time.Minute), func(AuditEvent) error { n++; return nil }))
		if n != 2 {
			t.Errorf("walked %d events since, want 2", n)
		}
		stop := errors.New("stop")
		if err := s.WalkAudit(ctx, tn.ID, time.Time{}, func(AuditEvent) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("walk returned %v", err)
		}
		if ts := must[[]Tenant](t)(s.AuditTenants(ctx)); len(ts) != 2 || ts[0].Name != "a" {
			t.Errorf("tenants %+v", ts)
		}
	})
}

// TestAuditHeadsRowLevelSecurity: audit_heads is under the tenant_isolation policy.
func TestAuditHeadsRowLevelSecurity(t *testing.T) {
	s := openStore(t, newDSN(t, dialectPostgres))
	ctx := context.Background()
	var a Tenant
	for _, name := range []string{"a", "b"} {
		tn := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: name}))
		must[AuditEvent](t)(s.AppendAudit(ctx, AuditEvent{TenantID: tn.ID, Action: "x"}))
		if name == "a" {
			a = tn
		}
	}
	for _, c := range []struct {
		setting, value string
		want           int
	}{{"", "", 0}, {settingLookup, "on", 0}, {settingTenant, a.ID, 1}} {
		var n int
		check(t, s.tx(ctx, false, func(tx *sql.Tx) error {
			if c.setting != "" {
				if err := s.declare(ctx, tx, c.setting, c.value); err != nil {
					return err
				}
			}
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM audit_heads`).Scan(&n)
		}))
		if n != c.want {
			t.Errorf("audit_heads with %s=%q: %d rows, want %d", c.setting, c.value, n, c.want)
		}
	}
}
