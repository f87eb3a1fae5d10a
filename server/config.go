package server

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/aulacapture/aula/server/auth"
)

// Config is the server's whole configuration. It loads from a JSON file, then the
// environment (AULA_ and the field's env name), then flags, each overriding the one
// before.
type Config struct {
	// Data is the directory for everything the embedded defaults keep: the SQLite
	// database, blobs, the master key and the self-signed certificate.
	Data string `json:"data" env:"AULA_DATA" flag:"data"`
	// Listen is the HTTPS address, HOST:PORT.
	Listen string `json:"listen" env:"AULA_LISTEN" flag:"listen"`
	// RedirectHTTP, when set, is a plain-HTTP address that only redirects to HTTPS.
	RedirectHTTP string `json:"redirect_http" env:"AULA_REDIRECT_HTTP" flag:"redirect-http"`
	// Hosts are the names and addresses the self-signed certificate is made for.
	Hosts []string `json:"hosts" env:"AULA_HOSTS" flag:"hosts"`
	// TLSCert and TLSKey are PEM files; when both are missing a self-signed pair is made
	// there. Defaults: DATA/tls/cert.pem and DATA/tls/key.pem.
	TLSCert string `json:"tls_cert" env:"AULA_TLS_CERT" flag:"tls-cert"`
	TLSKey  string `json:"tls_key" env:"AULA_TLS_KEY" flag:"tls-key"`
	// Database is "sqlite:PATH" (default DATA/aula.db) or a "postgres://" URL.
	Database string `json:"database" env:"AULA_DATABASE" flag:"database"`
	// Blobs is "file:DIR" (default DATA/blobs) or "s3://BUCKET?endpoint=URL&region=R&path_style=true".
	Blobs string `json:"blobs" env:"AULA_BLOBS" flag:"blobs"`
	// S3AccessKey and S3SecretKey authenticate to S3 (environment or file; never a flag,
	// so they stay out of process listings).
	S3AccessKey string `json:"s3_access_key" env:"AULA_S3_ACCESS_KEY"`
	S3SecretKey string `json:"s3_secret_key" env:"AULA_S3_SECRET_KEY"`
	// MasterKey is the file holding the key that wraps every tenant's key; made on first
	// start. Default DATA/master.key.
	MasterKey string `json:"master_key" env:"AULA_MASTER_KEY" flag:"master-key"`
	// MaxSegmentBytes caps one uploaded segment.
	MaxSegmentBytes int64 `json:"max_segment_bytes" env:"AULA_MAX_SEGMENT_BYTES" flag:"max-segment-bytes"`
	// PlaybackTTLSeconds is how long a signed playback URL stays valid.
	PlaybackTTLSeconds int `json:"playback_ttl_seconds" env:"AULA_PLAYBACK_TTL_SECONDS" flag:"playback-ttl-seconds"`
	// Argon2MemoryKiB and Argon2Time are the Argon2id cost of new password hashes (at
	// least 19456 KiB and 2 passes; threads are always 1). Raising them re-hashes each
	// password at its owner's next sign-in.
	Argon2MemoryKiB int `json:"argon2_memory_kib" env:"AULA_ARGON2_MEMORY_KIB" flag:"argon2-memory-kib"`
	Argon2Time      int `json:"argon2_time" env:"AULA_ARGON2_TIME" flag:"argon2-time"`
	// LogFormat is "json" (default) or "text".
	LogFormat string `json:"log_format" env:"AULA_LOG_FORMAT" flag:"log-format"`
	// OAuthIssuer is the public URL of the OAuth authorization server that agents and
	// the desktop recorder use: https://HOST[:PORT]/oauth. Empty means that URL on the
	// host each request names.
	OAuthIssuer string `json:"oauth_issuer" env:"AULA_OAUTH_ISSUER" flag:"oauth-issuer"`
	// OAuthDeviceIntervalSeconds is how often a device waiting for its user's approval
	// (the device grant) may poll.
	OAuthDeviceIntervalSeconds int `json:"oauth_device_interval_seconds" env:"AULA_OAUTH_DEVICE_INTERVAL_SECONDS" flag:"oauth-device-interval-seconds"`
	// TrustedProxies are the addresses or CIDR ranges of reverse proxies whose
	// X-Forwarded-For header is believed; from anyone else it is ignored.
	TrustedProxies []string `json:"trusted_proxies" env:"AULA_TRUSTED_PROXIES" flag:"trusted-proxies"`
	// GeoIPDatabase is a GeoLite2-Country (or GeoIP2-Country) .mmdb file for the
	// firewall's country rules and the new-country alert; empty turns both off.
	GeoIPDatabase string `json:"geoip_database" env:"AULA_GEOIP_DATABASE" flag:"geoip-database"`
	// AuditFile, if set, receives every audit record as one JSON line as well.
	AuditFile string `json:"audit_file" env:"AULA_AUDIT_FILE" flag:"audit-file"`
	// AuditSyslog, if set, sends every audit record to syslog: "local" for the local
	// daemon, or "udp://HOST:PORT" / "tcp://HOST:PORT".
	AuditSyslog string `json:"audit_syslog" env:"AULA_AUDIT_SYSLOG" flag:"audit-syslog"`
	// AlertWebhook, if set, is an https:// URL that receives each alert as JSON, signed
	// with AlertWebhookSecret (environment or file only, never a flag).
	AlertWebhook       string `json:"alert_webhook" env:"AULA_ALERT_WEBHOOK" flag:"alert-webhook"`
	AlertWebhookSecret string `json:"alert_webhook_secret" env:"AULA_ALERT_WEBHOOK_SECRET"`
}

// Default is the embedded setup: everything under ./aula-data, HTTPS on 127.0.0.1:8443.
func Default() Config {
	return Config{
		Data:               "aula-data",
		Listen:             "127.0.0.1:8443",
		Hosts:              []string{"localhost", "127.0.0.1", "::1"},
		MaxSegmentBytes:    64 << 20,
		PlaybackTTLSeconds: 600,
		Argon2MemoryKiB:    19 * 1024,
		Argon2Time:         2,
		LogFormat:          "json",

		OAuthDeviceIntervalSeconds: 5,
	}
}

// withDerived fills the paths that default to places under Data.
func (c Config) withDerived() Config {
	if c.TLSCert == "" {
		c.TLSCert = filepath.Join(c.Data, "tls", "cert.pem")
	}
	if c.TLSKey == "" {
		c.TLSKey = filepath.Join(c.Data, "tls", "key.pem")
	}
	if c.Database == "" {
		c.Database = "sqlite:" + filepath.Join(c.Data, "aula.db")
	}
	if c.Blobs == "" {
		c.Blobs = "file:" + filepath.Join(c.Data, "blobs")
	}
	if c.MasterKey == "" {
		c.MasterKey = filepath.Join(c.Data, "master.key")
	}
	return c
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("bad configuration")

// Validate names the first field that cannot work.
func (c Config) Validate() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...))
	}
	if c.Data == "" {
		return bad("data", "must name a directory")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q is not HOST:PORT", c.Listen)
	}
	if c.RedirectHTTP != "" {
		if _, _, err := net.SplitHostPort(c.RedirectHTTP); err != nil {
			return bad("redirect_http", "%q is not HOST:PORT", c.RedirectHTTP)
		}
	}
	if len(c.Hosts) == 0 {
		return bad("hosts", "name at least one host for the certificate")
	}
	d := c.withDerived()
	switch {
	case strings.HasPrefix(d.Database, "sqlite:"), strings.HasPrefix(d.Database, "postgres://"), strings.HasPrefix(d.Database, "postgresql://"):
	default:
		return bad("database", "want sqlite:PATH or postgres://…, not %q", d.Database)
	}
	switch {
	case strings.HasPrefix(d.Blobs, "file:"):
	case strings.HasPrefix(d.Blobs, "s3://"):
		u, err := url.Parse(d.Blobs)
		if err != nil || u.Host == "" || u.Query().Get("endpoint") == "" {
			return bad("blobs", "want s3://BUCKET?endpoint=URL&region=R")
		}
		if c.S3AccessKey == "" || c.S3SecretKey == "" {
			return bad("s3_access_key", "S3 needs AULA_S3_ACCESS_KEY and AULA_S3_SECRET_KEY")
		}
	default:
		return bad("blobs", "want file:DIR or s3://BUCKET?…, not %q", d.Blobs)
	}
	if c.MaxSegmentBytes < 1<<20 || c.MaxSegmentBytes > 1<<30 {
		return bad("max_segment_bytes", "want 1 MiB to 1 GiB, not %d", c.MaxSegmentBytes)
	}
	if c.PlaybackTTLSeconds < 30 || c.PlaybackTTLSeconds > 24*3600 {
		return bad("playback_ttl_seconds", "want 30 to 86400, not %d", c.PlaybackTTLSeconds)
	}
	if c.Argon2MemoryKiB < 19*1024 || c.Argon2MemoryKiB > 1<<21 {
		return bad("argon2_memory_kib", "want 19456 to 2097152, not %d", c.Argon2MemoryKiB)
	}
	if c.Argon2Time < 2 || c.Argon2Time > 20 {
		return bad("argon2_time", "want 2 to 20, not %d", c.Argon2Time)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return bad("log_format", "want json or text, not %q", c.LogFormat)
	}
	if c.OAuthIssuer != "" {
		u, err := url.Parse(c.OAuthIssuer)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "/oauth" || u.RawQuery != "" || u.Fragment != "" {
			return bad("oauth_issuer", "want https://HOST[:PORT]/oauth, not %q", c.OAuthIssuer)
		}
	}
	if c.OAuthDeviceIntervalSeconds < 1 || c.OAuthDeviceIntervalSeconds > 60 {
		return bad("oauth_device_interval_seconds", "want 1 to 60, not %d", c.OAuthDeviceIntervalSeconds)
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParseTrustedProxy(p); err != nil {
			return bad("trusted_proxies", "%q is not an address or CIDR range", p)
		}
	}
	if c.AuditSyslog != "" && c.AuditSyslog != "local" {
		u, err := url.Parse(c.AuditSyslog)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Port() == "" || u.Path != "" {
			return bad("audit_syslog", "want local, udp://HOST:PORT or tcp://HOST:PORT, not %q", c.AuditSyslog)
		}
	}
	if c.AlertWebhook != "" {
		u, err := url.Parse(c.AlertWebhook)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return bad("alert_webhook", "want an https:// URL, not %q", c.AlertWebhook)
		}
		if len(c.AlertWebhookSecret) < 16 {
			return bad("alert_webhook_secret", "a webhook needs AULA_ALERT_WEBHOOK_SECRET of at least 16 characters to sign with")
		}
	}
	return nil
}

// ParseTrustedProxy reads one trusted_proxies entry: an address (a single host) or a
// CIDR range.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// PasswordParams are the Argon2id parameters of new password hashes.
func (c Config) PasswordParams() auth.Params {
	return auth.Params{MemoryKiB: uint32(c.Argon2MemoryKiB), Time: uint32(c.Argon2Time), Threads: 1}
}

// LoadFile overlays the JSON file at path on c; unknown fields are errors.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: read %s: %w", ErrConfig, path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	return nil
}

// LoadEnv overlays the environment variables named in the env tags.
func (c *Config) LoadEnv(getenv func(string) string) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("env")
		if name == "" {
			continue
		}
		if s := getenv(name); s != "" {
			if err := setField(v.Field(i), s); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrConfig, name, err)
			}
		}
	}
	return nil
}

// BindFlags defines a flag per field with a flag tag, overlaying c when parsed.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("flag")
		if name == "" {
			continue
		}
		fs.Var(fieldFlag{v.Field(i)}, name, "see Config."+f.Name+" (env "+f.Tag.Get("env")+")")
	}
}

type fieldFlag struct{ v reflect.Value }

func (f fieldFlag) String() string {
	if !f.v.IsValid() {
		return ""
	}
	if f.v.Kind() == reflect.Slice {
		return strings.Join(f.v.Interface().([]string), ",")
	}
	return fmt.Sprint(f.v.Interface())
}

func (f fieldFlag) Set(s string) error { return setField(f.v, s) }

func setField(v reflect.Value, s string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(n)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported field kind %s", v.Kind())
	}
	return nil
}

// mkdirFor makes the directory that will hold file.
func mkdirFor(file string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(file), err)
	}
	return nil
}

// loadOrCreateSecret reads a 32-byte secret from path, or makes one there (0600).
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: want 32 bytes, found %d", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := mkdirFor(path); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return b, nil
}
