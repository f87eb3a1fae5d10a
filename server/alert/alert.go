// Package alert watches the audit log for anomalies and raises alerts (SECURITY §21):
// bursts of failed sign-ins, a sign-in from a country new for the account, mass export
// or deletion, and firewall or single sign-on changes. Each alert is logged, counted
// for Prometheus, recorded in the audit log and, if configured, posted to a signed
// webhook.
//
// # Caveats
//
// The state (recent failures, each account's countries) is in memory: after a restart
// a burst counts from zero, and the countries are read back from the audit log at each
// account's first sign-in. With several servers, each counts what its own requests
// audit, so a burst spread over N servers needs N times the threshold.
package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aulacapture/aula/server/store"
)

// Errors.
var (
	// ErrBadSignature means a webhook signature header is malformed or does not match.
	ErrBadSignature = errors.New("webhook signature does not match")
	// ErrStaleSignature means a webhook signature was made too long ago (or ahead).
	ErrStaleSignature = errors.New("webhook signature too old")
	// ErrWebhookRefused means the webhook answered with an error status.
	ErrWebhookRefused = errors.New("webhook refused the alert")
)

// Alert kinds; each alert's audit action is "alert." + kind.
const (
	KindSigninBurst   = "signin_burst"
	KindNewCountry    = "new_country"
	KindMassExport    = "mass_export"
	KindMassDeletion  = "mass_deletion"
	KindConfigChanged = "config_changed"
)

// The audit actions the engine watches.
var (
	// FailedSignins are failed sign-in attempts, counted per account and per address.
	FailedSignins = []string{"signin.failed", "signin.2fa_failed"}
	// Signins are completed sign-ins, whose country is looked up.
	Signins = []string{"signin"}
	// Exports are a recording's media leaving the server, counted per actor.
	Exports = []string{"recording.downloaded", "recording.exported"}
	// Deletions are recordings deleted, counted per actor.
	Deletions = []string{"recording.deleted"}
	// ConfigPrefixes start the actions of firewall and single sign-on changes, each of
	// which raises an alert.
	ConfigPrefixes = []string{"firewall.", "sso."}
)

// alertPrefix starts the engine's own audit actions, which it never watches.
const alertPrefix = "alert."

// Countries looks up the country of an address (ISO 3166-1 alpha-2); the firewall's
// GeoIP reader is one.
type Countries interface {
	Country(addr netip.Addr) (iso string, ok bool)
}

// Audit is where alerts are recorded and earlier sign-ins read; *store.Store is one.
type Audit interface {
	AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error)
	SearchAudit(ctx context.Context, tenantID string, f store.AuditFilter) ([]store.AuditEvent, error)
}

// Options configure an Engine; zero fields take the defaults named.
type Options struct {
	// Audit records each alert and answers which countries an account signed in from.
	// Required.
	Audit Audit
	Log   *slog.Logger
	// Registerer, if set, gets the engine's counters.
	Registerer prometheus.Registerer
	// Countries, if set, turns on the new-country alert.
	Countries Countries
	// SigninFailures per account and per address; default 10 in 5 minutes.
	SigninFailures Threshold
	// MassExport and MassDeletion per actor; default 20 and 10 in 10 minutes.
	MassExport, MassDeletion Threshold
	// Webhook, if set, is an https:// URL each alert is posted to as JSON, signed with
	// WebhookSecret (see SignatureHeader).
	Webhook       string
	WebhookSecret []byte
	// Client posts to the webhook; default a client that follows no redirects.
	Client *http.Client
	// WebhookTimeout bounds each attempt (default 10 s); WebhookRetries more attempts
	// follow a failure (default 3), after WebhookRetryWait doubled each time (default 1 s).
	WebhookTimeout   time.Duration
	WebhookRetries   int
	WebhookRetryWait time.Duration
	// Queue bounds the events waiting to be looked at and the alerts waiting to be
	// posted (default 1024 and 64); beyond it they are dropped, counted and logged.
	Queue, WebhookQueue int
	// CloseGrace is how long Close lets queued alerts be posted (default 5 s).
	CloseGrace time.Duration
	// Now is the clock for webhook signatures; default time.Now.
	Now func() time.Time
}

// Alert is one alert, as logged and posted.
type Alert struct {
	Kind    string    `json:"kind"`
	Tenant  string    `json:"tenant"`
	At      time.Time `json:"time"`
	Summary string    `json:"summary"`
	Actor   string    `json:"actor,omitempty"`
	UserID  string    `json:"user,omitempty"`
	IP      string    `json:"ip,omitempty"`
	Country string    `json:"country,omitempty"`
	Count   int       `json:"count,omitempty"`
	// Event and Seq name the audit event that raised the alert.
	Event string `json:"event"`
	Seq   int64  `json:"seq"`
	// Audit is the seq of the alert's own audit record, 0 if it could not be written.
	Audit int64 `json:"audit_seq,omitempty"`
}

// Engine raises alerts from audit events. Observe is its store.OnAudit function;
// Close stops it.
type Engine struct {
	o      Options
	log    *slog.Logger
	in     chan store.AuditEvent
	hook   *webhook
	cancel context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup // the engine's goroutines
	hookWG sync.WaitGroup // the webhook's

	mu     sync.Mutex // guards closed and sending on in
	closed bool

	alerts  *prometheus.CounterVec
	dropped *prometheus.CounterVec
	failed  prometheus.Counter

	// Owned by run's goroutine.
	failAccount, failIP, exports, deletions *bursts
	countries                               map[string]map[string]bool // tenant|user → countries
	latest                                  time.Time
}

// Start checks o and starts an engine.
func Start(o Options) (*Engine, error) {
	if o.Audit == nil {
		return nil, errors.New("alert: Options.Audit is required")
	}
	def := func(th *Threshold, n int, w time.Duration) {
		if th.Count <= 0 {
			th.Count = n
		}
		if th.Window <= 0 {
			th.Window = w
		}
	}
	def(&o.SigninFailures, 10, 5*time.Minute)
	def(&o.MassExport, 20, 10*time.Minute)
	def(&o.MassDeletion, 10, 10*time.Minute)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.WebhookQueue <= 0 {
		o.WebhookQueue = 64
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	if o.WebhookRetries < 0 {
		o.WebhookRetries = 0
	} else if o.WebhookRetries == 0 {
		o.WebhookRetries = 3
	}
	if o.WebhookRetryWait <= 0 {
		o.WebhookRetryWait = time.Second
	}
	if o.CloseGrace <= 0 {
		o.CloseGrace = 5 * time.Second
	}
	e := &Engine{o: o, log: o.Log, in: make(chan store.AuditEvent, o.Queue),
		failAccount: newBursts(o.SigninFailures), failIP: newBursts(o.SigninFailures),
		exports: newBursts(o.MassExport), deletions: newBursts(o.MassDeletion),
		countries: map[string]map[string]bool{},
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aula_alerts_total", Help: "Alerts raised, by kind.",
		}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aula_alert_dropped_total", Help: "Audit events not looked at and alerts not posted because a queue was full.",
		}, []string{"queue"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aula_alert_webhook_failures_total", Help: "Alerts the webhook did not accept after all retries.",
		}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{e.alerts, e.dropped, e.failed} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("alert metrics: %w", err)
			}
		}
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if o.Webhook != "" {
		if len(o.WebhookSecret) == 0 {
			return nil, errors.New("alert: a webhook needs a secret to sign with")
		}
		client := o.Client
		if client == nil {
			client = &http.Client{CheckRedirect: noRedirects}
		}
		e.hook = &webhook{url: o.Webhook, secret: o.WebhookSecret, client: client, timeout: o.WebhookTimeout,
			retries: o.WebhookRetries, wait: o.WebhookRetryWait, now: o.Now, queue: make(chan []byte, o.WebhookQueue),
			failed: func(err error) {
				e.failed.Inc()
				e.log.Error("alert not delivered to the webhook", "err", err)
			}}
		e.hookWG.Add(1)
		go func() {
			defer e.hookWG.Done()
			e.hook.run(e.ctx)
		}()
	}
	e.wg.Add(1)
	go e.run()
	return e, nil
}

// Observe queues an audit event to be looked at, without waiting. The engine's own
// records ("alert.…") are ignored, so an alert never raises another.
func (e *Engine) Observe(ev store.AuditEvent) {
	if strings.HasPrefix(ev.Action, alertPrefix) || !watched(ev.Action) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	select {
	case e.in <- ev:
	default:
		e.dropped.WithLabelValues("events").Inc()
		e.log.Error("alert queue full: audit event not checked for anomalies", "tenant", ev.TenantID, "seq", ev.Seq, "action", ev.Action)
	}
}

// Close stops looking at events, lets queued alerts be posted for up to CloseGrace,
// and waits for the engine's goroutines.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.in)
	e.mu.Unlock()
	e.wg.Wait()
	if e.hook != nil {
		close(e.hook.queue)
		done := make(chan struct{})
		go func() { e.hookWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(e.o.CloseGrace):
			e.cancel()
			<-done
		}
	}
	e.cancel()
	return nil
}

func watched(action string) bool {
	for _, set := range [][]string{FailedSignins, Signins, Exports, Deletions} {
		for _, a := range set {
			if action == a {
				return true
			}
		}
	}
	for _, p := range ConfigPrefixes {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

func in(action string, set []string) bool {
	for _, a := range set {
		if a == action {
			return true
		}
	}
	return false
}

// run looks at each event in turn; it owns the detectors' state.
func (e *Engine) run() {
	defer e.wg.Done()
	lastSweep := time.Time{}
	for ev := range e.in {
		if ev.At.After(e.latest) {
			e.latest = ev.At
		}
		e.look(ev)
		if e.latest.Sub(lastSweep) > time.Minute {
			for _, b := range []*bursts{e.failAccount, e.failIP, e.exports, e.deletions} {
				b.sweep(e.latest)
			}
			lastSweep = e.latest
		}
	}
}

func (e *Engine) look(ev store.AuditEvent) {
	key := func(parts ...string) string { return ev.TenantID + "\x00" + strings.Join(parts, "\x00") }
	who := ev.Actor
	if who == "" {
		who = ev.UserID
	}
	switch {
	case in(ev.Action, FailedSignins):
		var reasons []string
		n := 0
		if ev.UserID != "" {
			if c, fire := e.failAccount.add(key("user", ev.UserID), ev.At); fire {
				reasons, n = append(reasons, fmt.Sprintf("for the account %s", describeUser(ev))), c
			}
		}
		if ev.IP != "" {
			if c, fire := e.failIP.add(key("ip", ev.IP), ev.At); fire {
				reasons, n = append(reasons, "from "+ev.IP), max(n, c)
			}
		}
		if len(reasons) > 0 {
			e.raise(ev, Alert{Kind: KindSigninBurst, Count: n, Summary: fmt.Sprintf("%d failed sign-ins within %s %s.",
				n, e.o.SigninFailures.Window, strings.Join(reasons, " and "))})
		}
	case in(ev.Action, Signins):
		e.newCountry(ev, key("user", ev.UserID))
	case in(ev.Action, Exports):
		if n, fire := e.exports.add(key(who), ev.At); fire {
			e.raise(ev, Alert{Kind: KindMassExport, Count: n, Summary: fmt.Sprintf("%s exported or downloaded %d recordings within %s.",
				who, n, e.o.MassExport.Window)})
		}
	case in(ev.Action, Deletions):
		if n, fire := e.deletions.add(key(who), ev.At); fire {
			e.raise(ev, Alert{Kind: KindMassDeletion, Count: n, Summary: fmt.Sprintf("%s deleted %d recordings within %s.",
				who, n, e.o.MassDeletion.Window)})
		}
	default: // ConfigPrefixes
		what := "Single sign-on"
		if strings.HasPrefix(ev.Action, "firewall.") {
			what = "Firewall"
		}
		by := ""
		if who != "" {
			by = " by " + who
		}
		detail := ""
		if ev.Detail != "" {
			detail = ": " + ev.Detail
		}
		e.raise(ev, Alert{Kind: KindConfigChanged, Summary: fmt.Sprintf("%s configuration changed (%s)%s%s.", what, ev.Action, by, detail)})
	}
}

func describeUser(ev store.AuditEvent) string {
	if strings.Contains(ev.Actor, "@") {
		return ev.Actor
	}
	return ev.UserID
}

// newCountry raises an alert when an account signs in from a country it never signed
// in from before; an account's first sign-in only sets what is known.
func (e *Engine) newCountry(ev store.AuditEvent, key string) {
	if e.o.Countries == nil || ev.UserID == "" {
		return
	}
	country, ok := e.country(ev.IP)
	if !ok {
		return
	}
	known, loaded := e.countries[key]
	if !loaded {
		known = map[string]bool{}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		past, err := e.o.Audit.SearchAudit(ctx, ev.TenantID, store.AuditFilter{Action: ev.Action, UserID: ev.UserID, BeforeSeq: ev.Seq, Limit: 1000})
		cancel()
		if err != nil {
			e.log.Error("alert: read earlier sign-ins", "tenant", ev.TenantID, "user", ev.UserID, "err", err)
			return // try again at the next sign-in rather than alert on a baseline missing
		}
		for _, p := range past {
			if p.ID == ev.ID {
				continue
			}
			if c, ok := e.country(p.IP); ok {
				known[c] = true
			}
		}
		e.countries[key] = known
	}
	if len(known) > 0 && !known[country] {
		e.raise(ev, Alert{Kind: KindNewCountry, Country: country, Summary: fmt.Sprintf(
			"%s signed in from %s (%s), a country not seen for this account before.", describeUser(ev), country, ev.IP)})
	}
	known[country] = true
}

func (e *Engine) country(ip string) (string, bool) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "", false
	}
	return e.o.Countries.Country(addr.Unmap())
}

// raise logs, counts, records and posts an alert about ev.
func (e *Engine) raise(ev store.AuditEvent, a Alert) {
	a.Tenant, a.At, a.Event, a.Seq = ev.TenantID, ev.At, ev.ID, ev.Seq
	if a.Actor == "" {
		a.Actor = ev.Actor
	}
	if a.UserID == "" {
		a.UserID = ev.UserID
	}
	if a.IP == "" {
		a.IP = ev.IP
	}
	e.alerts.WithLabelValues(a.Kind).Inc()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	rec, err := e.o.Audit.AppendAudit(ctx, store.AuditEvent{TenantID: a.Tenant, Action: alertPrefix + a.Kind, Actor: "system",
		UserID: a.UserID, IP: a.IP, RequestID: ev.RequestID, Object: fmt.Sprintf("audit event %d (%s)", ev.Seq, ev.ID),
		Detail: a.Summary})
	cancel()
	if err != nil {
		e.log.Error("alert: record in the audit log", "kind", a.Kind, "tenant", a.Tenant, "err", err)
	} else {
		a.Audit = rec.Seq
	}
	e.log.Warn("alert", "kind", a.Kind, "tenant", a.Tenant, "summary", a.Summary, "actor", a.Actor, "ip", a.IP, "event", a.Event)
	if e.hook == nil {
		return
	}
	body, err := json.Marshal(a)
	if err != nil {
		e.log.Error("alert: marshal", "err", err)
		return
	}
	select {
	case e.hook.queue <- body:
	default:
		e.dropped.WithLabelValues("webhook").Inc()
		e.log.Error("alert webhook queue full: alert not posted", "kind", a.Kind, "tenant", a.Tenant)
	}
}
