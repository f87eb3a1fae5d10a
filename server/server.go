// Package server is the Aula server: it wires the metadata store, the blob store, the
// tenants' keys and the HTTP API together and serves them over TLS until its context
// ends, then finishes the requests in flight.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aulacapture/aula/server/api"
	"github.com/aulacapture/aula/server/audit"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/blob"
	"github.com/aulacapture/aula/server/ingest"
	"github.com/aulacapture/aula/server/keyring"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
	"github.com/aulacapture/aula/server/tlsconf"
	"github.com/aulacapture/aula/server/vod"
	"github.com/aulacapture/aula/server/web"
)

// Server is a provisioned server: stores open, keys loaded, routes built.
type Server struct {
	cfg     Config
	log     *slog.Logger
	Meta    *store.Store
	Blobs   blob.Store
	Master  *keyring.Master
	Keys    *keyring.Ring
	handler http.Handler
	metrics *metrics
	// playbackKey signs playback URLs.
	playbackKey []byte
	accounts    *auth.Accounts
	authorizer  *authz.Authorizer
	router      *authz.Router
	fw          *serverFirewall
	aud         *serverAudit
}

// Open provisions a server from cfg: it validates it, opens (and migrates) the
// metadata store, opens the blob store and loads or makes the master key.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDerived()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}
	var err error
	dsn := cfg.Database
	if p, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		if err := mkdirFor(p); err != nil {
			return nil, err
		}
	}
	if s.Meta, err = store.Open(ctx, dsn); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if s.Blobs, err = openBlobs(ctx, cfg); err != nil {
		s.Meta.Close()
		return nil, err
	}
	if s.Master, err = keyring.LoadOrCreateMaster(cfg.MasterKey); err != nil {
		s.Close()
		return nil, fmt.Errorf("master key: %w", err)
	}
	s.Keys = keyring.NewRing(s.Master, tenantKeys{s.Meta}, 0)
	if s.playbackKey, err = loadOrCreateSecret(filepath.Join(cfg.Data, "playback.key")); err != nil {
		s.Close()
		return nil, err
	}
	if !web.HasPlayer() {
		log.Warn("hls.js is not embedded (run make setup): browsers without native HLS cannot play")
	}
	s.metrics = newMetrics()
	if err := s.startAudit(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startFirewall(); err != nil {
		s.Close()
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Close releases the stores.
func (s *Server) Close() error {
	errs := []error{s.stopAudit(), s.stopFirewall()}
	if c, ok := s.Blobs.(interface{ Close() error }); ok {
		errs = append(errs, c.Close())
	}
	if s.Meta != nil {
		errs = append(errs, s.Meta.Close())
	}
	return errors.Join(errs...)
}

// Handler is the server's HTTP handler (for tests that serve it themselves).
func (s *Server) Handler() http.Handler { return s.handler }

func openBlobs(ctx context.Context, cfg Config) (blob.Store, error) {
	if dir, ok := strings.CutPrefix(cfg.Blobs, "file:"); ok {
		fs, err := blob.NewFS(dir)
		if err != nil {
			return nil, fmt.Errorf("open blob directory %s: %w", dir, err)
		}
		return fs, nil
	}
	u, err := url.Parse(cfg.Blobs)
	if err != nil {
		return nil, fmt.Errorf("%w: blobs: %w", ErrConfig, err)
	}
	q := u.Query()
	s3, err := blob.NewS3(ctx, blob.S3Config{
		Endpoint:     q.Get("endpoint"),
		Region:       q.Get("region"),
		Bucket:       u.Host,
		AccessKey:    cfg.S3AccessKey,
		SecretKey:    cfg.S3SecretKey,
		PathStyle:    q.Get("path_style") != "false",
		CreateBucket: q.Get("create_bucket") == "true",
	})
	if err != nil {
		return nil, fmt.Errorf("open S3 bucket %s: %w", u.Host, err)
	}
	return s3, nil
}

// tenantKeys lets the key ring read wrapped keys from the metadata store.
type tenantKeys struct{ meta *store.Store }

func (k tenantKeys) WrappedKey(ctx context.Context, tenantID string) ([]byte, error) {
	t, err := k.meta.Tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if len(t.WrappedIdentity) == 0 {
		return nil, fmt.Errorf("tenant %s key deleted: %w", tenantID, store.ErrNotFound)
	}
	return t.WrappedIdentity, nil
}

// Accounts is sign-in and account management on the server's stores, with the
// configured password hashing; pages and the command line share it.
func (s *Server) Accounts() *auth.Accounts {
	if s.accounts == nil {
		s.accounts = &auth.Accounts{Store: s.Meta, Sealer: auth.TenantSealer{Keys: s.Keys, Tenants: s.Meta},
			Throttle: &auth.Throttle{Failures: s.Meta}, Params: s.cfg.PasswordParams(), Log: s.log}
	}
	return s.accounts
}

func init() {
	for _, p := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "/"} {
		authz.Define(p, authz.Public)
	}
}

// Authorizer decides what each caller may do (server/authz); pages, the API and the
// command line share it, so a change through one is seen at once by the others.
func (s *Server) Authorizer() *authz.Authorizer {
	if s.authorizer == nil {
		s.authorizer = &authz.Authorizer{Store: s.Meta}
	}
	return s.authorizer
}

func (s *Server) routes() http.Handler { return s.buildRoutes(false) }

// buildRoutes registers every route behind its rule; probe (for the authorization
// matrix test) answers 204 in place of each handler once the guard lets a request by.
func (s *Server) buildRoutes(probe bool) http.Handler {
	sessions := &auth.Sessions{Store: s.Meta, Policies: s.Meta, Gate: s.firewallSignin()}
	mux := &authz.Router{Mux: http.NewServeMux(), Probe: probe, Guard: &authz.Guard{
		Authorizer: s.Authorizer(), Records: s.Meta, Tokens: s.Meta, Sessions: sessions, Log: s.log,
		Firewall: s.firewallGate()}}
	s.router = mux
	ing := &ingest.Handler{
		Meta:   s.Meta,
		Blobs:  s.Blobs,
		Keys:   s.Keys,
		Log:    s.log,
		Limits: ingest.DefaultLimits(),
		Observe: func(n int64, took time.Duration) {
			s.metrics.ingestBytes.Add(float64(n))
			s.metrics.ingestSeconds.Observe(took.Seconds())
		},
		OnInternalError: func(error) { s.metrics.storeErrors.Inc() },
	}
	ing.Limits.MaxSegment = s.cfg.MaxSegmentBytes
	ing.Register(mux)
	signer := &vod.Signer{Key: s.playbackKey, TTL: time.Duration(s.cfg.PlaybackTTLSeconds) * time.Second}
	vh := &vod.Handler{Meta: s.Meta, Blobs: s.Blobs, Keys: s.Keys, Sessions: sessions, Signer: signer, Log: s.log,
		MaxSegment: s.cfg.MaxSegmentBytes}
	vh.Register(mux)
	(&api.Handler{Meta: s.Meta, Blobs: s.Blobs, VOD: vh, Authorizer: s.Authorizer(), Log: s.log}).Register(mux)
	s.registerWeb(mux, sessions, signer)
	s.registerOAuth(mux)
	s.registerAuditRoutes(mux)
	s.registerFirewallRoutes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Meta.Ping(r.Context()); err != nil {
			problem.Write(w, r, http.StatusServiceUnavailable, "not-ready", "The database does not answer.")
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/recordings", http.StatusSeeOther)
			return
		}
		problem.Write(w, r, http.StatusNotFound, "", "No such page or API route.")
	})
	// Every state-changing request from a browser must come from our own origin
	// (SECURITY §8); API clients without browser headers pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, http.StatusForbidden, "cross-origin", "Requests from other sites may not change anything here.")
	}))
	return s.metrics.wrap(s.clientAddress(audit.RequestID(secure(cop.Handler(mux.Mux)))))
}

// secure adds the headers every answer carries and refuses paths that are not clean
// (".." or "//" or escaped slashes), which the router would otherwise redirect.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		p := r.URL.Path
		if p == "" || path.Clean(p) != p && path.Clean(p)+"/" != p || strings.Contains(r.URL.RawPath, "%2F") || strings.Contains(r.URL.RawPath, "%2f") || strings.ContainsRune(p, 0) {
			problem.Write(w, r, http.StatusBadRequest, "bad-path", "The path must be clean: no '..', '//', escaped slashes or NUL.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Serve serves HTTPS on cfg.Listen (and the HTTP redirect, if configured) until ctx
// ends, then shuts down gracefully: requests in flight, uploads among them, finish.
// ready, if not nil, gets the listening address once the server accepts connections.
func (s *Server) Serve(ctx context.Context, ready func(addr string)) error {
	cert, err := tlsconf.LoadOrCreate(s.cfg.TLSCert, s.cfg.TLSKey, s.cfg.Hosts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         tlsconf.Config(cert),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var redirect *http.Server
	errc := make(chan error, 2)
	if s.cfg.RedirectHTTP != "" {
		rl, err := net.Listen("tcp", s.cfg.RedirectHTTP)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s: %w", s.cfg.RedirectHTTP, err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		redirect = &http.Server{Handler: redirectHandler(port), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- ignoreClosed(redirect.Serve(rl)) }()
	}
	go func() { errc <- ignoreClosed(srv.ServeTLS(ln, "", "")) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "cert", s.cfg.TLSCert)
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if redirect != nil {
		err = errors.Join(err, redirect.Shutdown(shutdownCtx))
	}
	s.log.Info("stopped")
	return err
}

func redirectHandler(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		u := url.URL{Scheme: "https", Host: net.JoinHostPort(host, httpsPort), Path: r.URL.Path, RawQuery: r.URL.RawQuery}
		http.Redirect(w, r, u.String(), http.StatusPermanentRedirect)
	})
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// metrics are the Prometheus series the server exports, in a registry of its own.
type metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	ingestBytes   prometheus.Counter
	ingestSeconds prometheus.Histogram
	storeErrors   prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aula_http_requests_total", Help: "HTTP requests by method and status code.",
		}, []string{"method", "code"}),
		ingestBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aula_ingest_bytes_total", Help: "Bytes of sealed segments accepted.",
		}),
		ingestSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aula_ingest_segment_seconds", Help: "Time to check and store one segment.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	m.storeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aula_store_errors_total", Help: "Requests that failed in the metadata or blob store.",
	})
	m.registry.MustRegister(m.requests, m.ingestBytes, m.ingestSeconds, m.storeErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) wrap(next http.Handler) http.Handler {
	return promhttp.InstrumentHandlerCounter(m.requests, next)
}
