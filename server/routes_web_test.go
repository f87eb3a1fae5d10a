package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSSORedirectURI: the redirect URI takes its host from the request only when that
// host is one of the configured hosts, and its port from the listener, never from the
// Host header.
func TestSSORedirectURI(t *testing.T) {
	s := &Server{cfg: Config{Hosts: []string{"aula.uni.example", "127.0.0.1", "::1"}, Listen: "0.0.0.0:8443"}}
	listener := func(port int) net.Addr { return &net.TCPAddr{IP: net.IPv4zero, Port: port} }
	for _, c := range []struct {
		host string
		addr net.Addr
		want string // "" for a refusal
	}{
		{"aula.uni.example:8443", listener(8443), "https://aula.uni.example:8443/signin/sso/callback"},
		{"AULA.uni.example", listener(8443), "https://aula.uni.example:8443/signin/sso/callback"},
		{"aula.uni.example:9999", listener(8443), "https://aula.uni.example:8443/signin/sso/callback"},
		{"aula.uni.example", listener(443), "https://aula.uni.example/signin/sso/callback"},
		{"127.0.0.1:41234", listener(41234), "https://127.0.0.1:41234/signin/sso/callback"},
		{"[::1]:8443", listener(8443), "https://[::1]:8443/signin/sso/callback"},
		{"[::1]", listener(443), "https://[::1]/signin/sso/callback"},
		{"evil.example", listener(8443), ""},
		{"aula.uni.example.evil.example", listener(8443), ""},
		{"", listener(8443), ""},
		{"aula.uni.example", nil, "https://aula.uni.example:8443/signin/sso/callback"}, // no listener: the configured port
	} {
		r := httptest.NewRequest("GET", "/signin/sso", nil)
		r.Host = c.host
		if c.addr != nil {
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, c.addr))
		}
		got, err := s.ssoRedirectURI(r)
		if c.want == "" {
			if err == nil {
				t.Errorf("Host %q: %q, want a refusal", c.host, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Host %q: %q, %v; want %q", c.host, got, err, c.want)
		}
	}
}
