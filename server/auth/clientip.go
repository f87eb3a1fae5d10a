package auth

import (
	"context"
	"net"
	"net/http"
	"net/netip"
)

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the request's client address, resolved once
// per request by the server's outermost handler (package firewall's ClientAddress:
// X-Forwarded-For believed only from trusted proxies).
func WithClientAddr(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddrFrom is the client address WithClientAddr put in ctx, if any.
func ClientAddrFrom(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(clientAddrKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}

// ClientAddr is the address r came from: the resolved client address when the
// server resolved one, else RemoteAddr's host (unmapped, without zone); the zero
// Addr when neither parses.
func ClientAddr(r *http.Request) netip.Addr {
	if a, ok := ClientAddrFrom(r.Context()); ok {
		return a
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
