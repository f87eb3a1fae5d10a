package alert

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/aulacapture/aula/server/audit"
	"github.com/aulacapture/aula/server/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// fixture is a store whose audit events feed an engine, as the server wires them.
type fixture struct {
	st     *store.Store
	tenant string
	eng    *Engine
	reg    *prometheus.Registry
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "aula.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetAuditMAC(audit.MAC([]byte("alert tests' key")))
	tn, err := st.CreateTenant(context.Background(), store.Tenant{Name: "uni"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, tenant: tn.ID, reg: prometheus.NewRegistry()}
	o.Audit, o.Registerer = st, f.reg
	if f.eng, err = Start(o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.eng.Close() })
	st.OnAudit(f.eng.Observe)
	return f
}

func (f *fixture) add(t *testing.T, e store.AuditEvent) {
	t.Helper()
	e.TenantID = f.tenant
	if _, err := f.st.AppendAudit(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

// alerts closes the engine, so every event was looked at, and returns the alerts
// recorded in the audit log, oldest first.
func (f *fixture) alerts(t *testing.T) []store.AuditEvent {
	t.Helper()
	if err := f.eng.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.SearchAudit(context.Background(), f.tenant, store.AuditFilter{ActionPrefix: "alert.", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	return got
}

// receiver is a webhook over TLS on loopback that keeps what it was sent.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	fail   int // answer 503 to so many requests first
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail > 0 {
			r.fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.bodies = append(r.bodies, body)
		r.sigs = append(r.sigs, req.Header.Get(SignatureHeader))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

var secret = []byte("webhook secret of the tests")

func (r *receiver) options() Options {
	return Options{Webhook: r.srv.URL, WebhookSecret: secret, Client: r.srv.Client(), WebhookRetryWait: time.Millisecond}
}

// TestSigninBurst: 25 failures against one account from one address raise one alert
// and one signed webhook; after a quiet window, a new burst raises another.
func TestSigninBurst(t *testing.T) {
	rcv := newReceiver(t)
	rcv.fail = 1 // the first attempt fails and is retried
	f := newFixture(t, rcv.options())
	fail := func(at time.Time, ip string) {
		f.add(t, store.AuditEvent{At: at, Action: "signin.failed", Actor: "ann@example.org", UserID: "u-ann", IP: ip, Result: store.ResultFailed})
	}
	for i := range 25 {
		fail(t0.Add(time.Duration(i)*time.Second), "203.0.113.9")
	}
	// Nine more within the window from elsewhere: the account's burst is already raised.
	for i := range 9 {
		fail(t0.Add(time.Minute+time.Duration(i)*time.Second), "198.51.100.1")
	}
	// Failures spread wider than the window never add up to a burst.
	for i := range 12 {
		f.add(t, store.AuditEvent{At: t0.Add(time.Hour + time.Duration(i)*time.Minute), Action: "signin.failed", UserID: "u-bob", IP: "192.0.2.44"})
	}
	got := f.alerts(t)
	if len(got) != 1 || got[0].Action != "alert.signin_burst" || got[0].UserID != "u-ann" || got[0].IP != "203.0.113.9" || got[0].Actor != "system" {
		t.Fatalf("alerts %+v", got)
	}
	if !strings.Contains(got[0].Detail, "10 failed sign-ins within 5m0s for the account ann@example.org and from 203.0.113.9") {
		t.Errorf("summary %q", got[0].Detail)
	}
	if n := value(t, f.eng.alerts.WithLabelValues(KindSigninBurst)); n != 1 {
		t.Errorf("counter %v", n)
	}
	if len(rcv.bodies) != 1 {
		t.Fatalf("webhook got %d posts", len(rcv.bodies))
	}
	if err := VerifySignature(secret, rcv.sigs[0], rcv.bodies[0], time.Now(), 5*time.Minute); err != nil {
		t.Errorf("signature %q: %v", rcv.sigs[0], err)
	}
	if err := VerifySignature([]byte("another secret"), rcv.sigs[0], rcv.bodies[0], time.Now(), 5*time.Minute); err == nil {
		t.Error("signature verifies with another secret")
	}
	if err := VerifySignature(secret, rcv.sigs[0], append(rcv.bodies[0], ' '), time.Now(), 5*time.Minute); err == nil {
		t.Error("signature verifies for another body")
	}
	if err := VerifySignature(secret, rcv.sigs[0], rcv.bodies[0], time.Now().Add(time.Hour), 5*time.Minute); err == nil {
		t.Error("an hour-old signature verifies")
	}
	var a Alert
	if err := json.Unmarshal(rcv.bodies[0], &a); err != nil {
		t.Fatal(err)
	}
	if a.Kind != KindSigninBurst || a.Tenant != f.tenant || a.Count != 10 || a.Seq != 10 || a.Audit != got[0].Seq {
		t.Errorf("posted %+v", a)
	}

	// Re-armed once the account was quiet for a window.
	f2 := newFixture(t, Options{})
	for _, start := range []time.Time{t0, t0.Add(20 * time.Minute)} {
		for i := range 10 {
			f2.add(t, store.AuditEvent{At: start.Add(time.Duration(i) * time.Second), Action: "signin.2fa_failed", UserID: "u-ann"})
		}
	}
	if got := f2.alerts(t); len(got) != 2 {
		t.Errorf("two bursts raised %d alerts", len(got))
	}
}

type countries map[string]string

func (c countries) Country(addr netip.Addr) (string, bool) {
	iso, ok := c[addr.String()]
	return iso, ok
}

func TestNewCountry(t *testing.T) {
	geo := countries{"192.0.2.1": "DE", "192.0.2.2": "DE", "198.51.100.7": "FR", "203.0.113.5": "US"}
	f := newFixture(t, Options{Countries: geo})
	signin := func(ip string, i int) {
		f.add(t, store.AuditEvent{At: t0.Add(time.Duration(i) * time.Hour), Action: "signin", Actor: "ann@example.org", UserID: "u-ann", IP: ip})
	}
	signin("192.0.2.1", 0)                                                                   // the first: nothing known, no alert
	signin("192.0.2.2", 1)                                                                   // DE again
	signin("10.0.0.1", 2)                                                                    // unknown address: no lookup, no alert
	signin("198.51.100.7", 3)                                                                // FR: new
	signin("198.51.100.7", 4)                                                                // FR again: known now
	f.add(t, store.AuditEvent{At: t0, Action: "signin", UserID: "u-bob", IP: "203.0.113.5"}) // bob's first
	got := f.alerts(t)
	if len(got) != 1 || got[0].Action != "alert.new_country" || !strings.Contains(got[0].Detail, "from FR (198.51.100.7)") {
		t.Fatalf("alerts %+v", got)
	}

	// A new engine (a restart) reads what each account's earlier sign-ins tell.
	eng, err := Start(Options{Audit: f.st, Countries: geo})
	if err != nil {
		t.Fatal(err)
	}
	f.eng = eng
	f.st.OnAudit(eng.Observe)
	signin("198.51.100.7", 5) // FR: seen before the restart
	signin("203.0.113.5", 6)  // US: new
	got = f.alerts(t)
	if len(got) != 2 || !strings.Contains(got[1].Detail, "from US") {
		t.Fatalf("after a restart: %+v", got)
	}
}

func TestMassExportAndDeletion(t *testing.T) {
	f := newFixture(t, Options{})
	for i := range 15 {
		f.add(t, store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Action: "recording.deleted", Actor: "eve@example.org",
			Object: "recording " + string(rune('a'+i))})
	}
	for i := range 9 {
		f.add(t, store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Action: "recording.deleted", Actor: "ann@example.org"})
	}
	for i := range 20 {
		action := "recording.downloaded"
		if i%2 == 0 {
			action = "recording.exported"
		}
		f.add(t, store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Action: action, Actor: "ann@example.org"})
	}
	got := f.alerts(t)
	if len(got) != 2 || got[0].Action != "alert.mass_deletion" || !strings.Contains(got[0].Detail, "eve@example.org deleted 10 recordings") ||
		got[1].Action != "alert.mass_export" || !strings.Contains(got[1].Detail, "ann@example.org exported or downloaded 20 recordings") {
		t.Fatalf("alerts %+v", got)
	}
}

func TestConfigChanged(t *testing.T) {
	rcv := newReceiver(t)
	f := newFixture(t, rcv.options())
	f.add(t, store.AuditEvent{At: t0, Action: "firewall.changed", Actor: "admin@example.org", Detail: "allow 192.0.2.0/24"})
	f.add(t, store.AuditEvent{At: t0, Action: "sso.configured", Actor: "admin@example.org"})
	f.add(t, store.AuditEvent{At: t0, Action: "signin.refused", Actor: "ann@example.org", Detail: "firewall"})
	f.add(t, store.AuditEvent{At: t0, Action: "policy.changed", Actor: "cli"})
	got := f.alerts(t)
	if len(got) != 2 || got[0].Detail != "Firewall configuration changed (firewall.changed) by admin@example.org: allow 192.0.2.0/24." ||
		got[1].Detail != "Single sign-on configuration changed (sso.configured) by admin@example.org." {
		t.Fatalf("alerts %+v", got)
	}
	if len(rcv.bodies) != 2 {
		t.Errorf("webhook got %d posts", len(rcv.bodies))
	}
	if n := value(t, f.eng.alerts.WithLabelValues(KindConfigChanged)); n != 2 {
		t.Errorf("counter %v", n)
	}
}

// TestObserveDoesNotBlock: with the engine's queue full, Observe drops and returns.
func TestObserveDoesNotBlock(t *testing.T) {
	e := &Engine{in: make(chan store.AuditEvent, 1), log: discard(), dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"queue"})}
	done := make(chan struct{})
	go func() {
		for range 5 {
			e.Observe(store.AuditEvent{Action: "signin.failed"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Observe blocked")
	}
	if n := value(t, e.dropped.WithLabelValues("events")); n != 4 {
		t.Errorf("dropped %v", n)
	}
}

// TestWebhookGivesUp: a webhook that always fails is tried 1+retries times, and Close
// does not wait on it longer than its grace.
func TestWebhookGivesUp(t *testing.T) {
	rcv := newReceiver(t)
	rcv.fail = 1000
	o := rcv.options()
	o.WebhookRetries, o.CloseGrace = 2, 2*time.Second
	f := newFixture(t, o)
	f.add(t, store.AuditEvent{At: t0, Action: "sso.removed"})
	start := time.Now()
	f.alerts(t)
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("Close took %s", took)
	}
	if n := value(t, f.eng.failed); n != 1 || rcv.fail != 997 {
		t.Errorf("failures counted %v, attempts %d", n, 1000-rcv.fail)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// value reads a counter.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
