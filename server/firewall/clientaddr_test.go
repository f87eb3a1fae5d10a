package firewall

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/aulacapture/aula/server/auth"
)

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		p, err := ParseRange(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = p
	}
	return out
}

func TestResolve(t *testing.T) {
	trusted := prefixes(t, "10.0.0.0/8", "127.0.0.1", "2001:db8:ffff::/48")
	for _, c := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no header", "192.0.2.7:5000", nil, "192.0.2.7"},
		{"spoofed header from an untrusted address is ignored", "192.0.2.7:5000", []string{"10.1.1.1"}, "192.0.2.7"},
		{"spoofed IPv6 header from an untrusted address", "[2001:db8::7]:443", []string{"127.0.0.1, 10.0.0.1"}, "2001:db8::7"},
		{"one trusted proxy", "10.0.0.2:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"two trusted proxies", "127.0.0.1:5000", []string{"203.0.113.9, 10.0.0.3"}, "203.0.113.9"},
		{"two trusted proxies in two headers", "127.0.0.1:5000", []string{"203.0.113.9", "10.0.0.3"}, "203.0.113.9"},
		{"a client's own forged entries left of the real one are ignored", "10.0.0.2:5000", []string{"10.9.9.9, 198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"IPv6 client through an IPv6 proxy", "[2001:db8:ffff::1]:443", []string{"2001:db8:1::5"}, "2001:db8:1::5"},
		{"IPv6 in brackets with port", "10.0.0.2:5000", []string{"[2001:db8:1::5]:1234"}, "2001:db8:1::5"},
		{"IPv4 with port", "10.0.0.2:5000", []string{"203.0.113.9:4444"}, "203.0.113.9"},
		{"mapped remote address is unmapped", "[::ffff:192.0.2.7]:5000", nil, "192.0.2.7"},
		{"mapped remote proxy is trusted", "[::ffff:10.0.0.2]:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"zone dropped", "[fe80::1%eth0]:5000", nil, "fe80::1"},
		{"malformed entry stops at the last good hop", "10.0.0.2:5000", []string{"203.0.113.9, nonsense, 10.0.0.3"}, "10.0.0.3"},
		{"malformed last entry gives the proxy", "10.0.0.2:5000", []string{"203.0.113.9, 999.1.1.1"}, "10.0.0.2"},
		{"all trusted gives the leftmost", "10.0.0.2:5000", []string{"10.0.0.5, 10.0.0.3"}, "10.0.0.5"},
		{"empty header", "10.0.0.2:5000", []string{""}, "10.0.0.2"},
		{"remote without port", "192.0.2.7", nil, "192.0.2.7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Resolve(c.remote, c.xff, trusted)
			if got.String() != c.want {
				t.Errorf("Resolve(%q, %q) = %v, want %s", c.remote, c.xff, got, c.want)
			}
		})
	}
	if got := Resolve("pipe", nil, trusted); got.IsValid() {
		t.Errorf("unparsable remote: %v", got)
	}
	// Without trusted proxies the header is never read.
	if got := Resolve("10.0.0.2:1", []string{"203.0.113.9"}, nil); got.String() != "10.0.0.2" {
		t.Errorf("no trusted proxies: %v", got)
	}
}

func TestClientAddressMiddleware(t *testing.T) {
	var gotIP string
	var gotAddr netip.Addr
	h := ClientAddress(prefixes(t, "127.0.0.1"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotIP, gotAddr = auth.ClientIP(r), auth.ClientAddr(r)
	}))
	for _, c := range []struct{ remote, xff, want string }{
		{"127.0.0.1:999", "2001:db8::9", "2001:db8::9"},
		{"192.0.2.1:999", "198.51.100.1", "192.0.2.1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		r.Header.Set("X-Forwarded-For", c.xff)
		h.ServeHTTP(httptest.NewRecorder(), r)
		if gotIP != c.want || gotAddr.String() != c.want {
			t.Errorf("from %s with %s: ClientIP %q, ClientAddr %v, want %s", c.remote, c.xff, gotIP, gotAddr, c.want)
		}
	}
	// Without the middleware, ClientIP is RemoteAddr's host as before.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:999"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := auth.ClientIP(r); got != "127.0.0.1" {
		t.Errorf("without middleware: %q", got)
	}
}

func FuzzResolve(f *testing.F) {
	trusted := prefixes(f, "10.0.0.0/8", "::1")
	f.Add("10.0.0.1:80", "203.0.113.9, 10.0.0.2")
	f.Add("[::1]:80", "[2001:db8::1]:5, ::ffff:1.2.3.4")
	f.Add("192.0.2.1:1", "x")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		a := Resolve(remote, []string{xff}, trusted)
		if !a.IsValid() {
			return
		}
		if a.Is4In6() || a.Zone() != "" {
			t.Errorf("Resolve gave %v", a)
		}
		// The result is the remote address, or one the header named after a trusted remote.
		r, ok := parseHop(remote)
		if !ok {
			t.Fatalf("valid %v from unparsable remote %q", a, remote)
		}
		if a != r && !isTrusted(r, trusted) {
			t.Errorf("header believed from untrusted %v", r)
		}
	})
}
