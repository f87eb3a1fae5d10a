package firewall

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/aulacapture/aula/server/auth"
)

// ClientAddress returns middleware that resolves each request's client address once
// and puts it in the request's context, where auth.ClientAddr and auth.ClientIP find
// it (see Resolve). It must wrap every other handler.
func ClientAddress(trusted []netip.Prefix) func(http.Handler) http.Handler {
	trusted = append([]netip.Prefix(nil), trusted...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a := Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted); a.IsValid() {
				r = r.WithContext(auth.WithClientAddr(r.Context(), a))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Resolve is the client address of a request from remoteAddr ("host:port") carrying
// the X-Forwarded-For header values xff. Only when remoteAddr is a trusted proxy is the
// header read: from the right, each hop that is itself a trusted proxy is skipped and
// the first that is not is the client. A malformed entry stops the walk at the last
// good hop, and a chain of trusted proxies only gives its leftmost. IPv4-mapped IPv6
// addresses are unmapped and IPv6 zones dropped. The zero Addr means remoteAddr did
// not parse.
func Resolve(remoteAddr string, xff []string, trusted []netip.Prefix) netip.Addr {
	last, ok := parseHop(remoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !isTrusted(last, trusted) {
		return last
	}
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			h := strings.TrimSpace(hops[j])
			if h == "" && len(hops) == 1 {
				continue // an empty header adds no hop
			}
			a, ok := parseHop(h)
			if !ok {
				return last
			}
			last = a
			if !isTrusted(a, trusted) {
				return a
			}
		}
	}
	return last
}

// parseHop reads an address as RemoteAddr or X-Forwarded-For gives it: "192.0.2.1",
// "192.0.2.1:1234", "2001:db8::1", "[2001:db8::1]:1234" or "[2001:db8::1]".
func parseHop(s string) (netip.Addr, bool) {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else if x, err := netip.ParseAddr(unbracket(s)); err == nil {
		a = x
	} else {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func unbracket(s string) string {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}
