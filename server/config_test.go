package server

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no data", func(c *Config) { c.Data = "" }, "data"},
		{"bad listen", func(c *Config) { c.Listen = "8443" }, "listen"},
		{"bad redirect", func(c *Config) { c.RedirectHTTP = "x" }, "redirect_http"},
		{"no hosts", func(c *Config) { c.Hosts = nil }, "hosts"},
		{"bad database", func(c *Config) { c.Database = "mysql://x" }, "database"},
		{"postgres", func(c *Config) { c.Database = "postgres://app@127.0.0.1/aula" }, ""},
		{"bad blobs", func(c *Config) { c.Blobs = "ftp://x" }, "blobs"},
		{"s3 without endpoint", func(c *Config) { c.Blobs = "s3://bucket" }, "blobs"},
		{"s3 without keys", func(c *Config) { c.Blobs = "s3://bucket?endpoint=http://127.0.0.1:7070" }, "s3_access_key"},
		{"s3", func(c *Config) {
			c.Blobs, c.S3AccessKey, c.S3SecretKey = "s3://bucket?endpoint=http://127.0.0.1:7070", "a", "b"
		}, ""},
		{"tiny segments", func(c *Config) { c.MaxSegmentBytes = 10 }, "max_segment_bytes"},
		{"short ttl", func(c *Config) { c.PlaybackTTLSeconds = 5 }, "playback_ttl_seconds"},
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, "log_format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want ok", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field+":") {
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

func TestConfigLayers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "aula.json")
	if err := os.WriteFile(file, []byte(`{"listen": "127.0.0.1:1111", "log_format": "text", "hosts": ["a.example"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AULA_LISTEN": "127.0.0.1:2222", "AULA_HOSTS": "b.example, c.example", "AULA_MAX_SEGMENT_BYTES": "2097152"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:3333"}); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3333" || c.LogFormat != "text" || len(c.Hosts) != 2 || c.Hosts[1] != "c.example" || c.MaxSegmentBytes != 2<<20 {
		t.Errorf("layered config %+v", c)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`{"listen": "x", "colour": "red"}`), 0o600)
	if err := c.LoadFile(bad); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field: %v", err)
	}
	if err := c.LoadEnv(func(k string) string {
		if k == "AULA_MAX_SEGMENT_BYTES" {
			return "lots"
		}
		return ""
	}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "AULA_MAX_SEGMENT_BYTES") {
		t.Errorf("bad env: %v", err)
	}
}
