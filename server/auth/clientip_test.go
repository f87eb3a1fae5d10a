package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/aulacapture/aula/server/store"
)

func TestClientAddr(t *testing.T) {
	for _, c := range []struct{ remote, want string }{
		{"192.0.2.1:5000", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:5000", "192.0.2.1"},
		{"[fe80::1%eth0]:5000", "fe80::1"},
		{"192.0.2.1", "192.0.2.1"},
		{"pipe", "invalid IP"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if got := ClientAddr(r).String(); got != c.want {
			t.Errorf("ClientAddr from %q = %s, want %s", c.remote, got, c.want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r = r.WithContext(WithClientAddr(r.Context(), netip.MustParseAddr("2001:db8::1")))
	if ClientAddr(r).String() != "2001:db8::1" || ClientIP(r) != "2001:db8::1" {
		t.Errorf("resolved address ignored: %s, %s", ClientAddr(r), ClientIP(r))
	}
}

// TestSessionGate: a Gate's refusal stops Start before any session is made and ends
// the half-finished one the request came with; its other errors are failures.
func TestSessionGate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "v@uni.example", "correct horse battery staple", store.RoleViewer)
	var gateErr error
	var asked []string
	s := &Sessions{Store: f.st, Policies: f.st, Now: f.clk.Now,
		Gate: func(_ context.Context, tenantID, userID string, r *http.Request) error {
			asked = append(asked, tenantID+"/"+userID)
			return gateErr
		}}
	w := httptest.NewRecorder()
	if _, err := s.Start(ctx, w, nil, u.TenantID, u.ID, store.SessionMFA); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/signin/2fa", nil)
	r.AddCookie(w.Result().Cookies()[0])
	if _, err := s.Current(ctx, r); err != nil {
		t.Fatal(err)
	}

	gateErr = fmt.Errorf("%w: Your address is not allowed.", ErrRefused)
	w = httptest.NewRecorder()
	if _, err := s.Start(ctx, w, r, u.TenantID, u.ID, store.SessionFull); !errors.Is(err, ErrRefused) {
		t.Fatalf("refused Start: %v", err)
	}
	if len(asked) != 2 || asked[1] != u.TenantID+"/"+u.ID {
		t.Errorf("gate asked %v", asked)
	}
	for _, c := range w.Result().Cookies() {
		if c.Value != "" {
			t.Errorf("refused Start set cookie %+v", c)
		}
	}
	if _, err := s.Current(ctx, r); !errors.Is(err, ErrNoSession) {
		t.Errorf("the half-finished session outlived the refusal: %v", err)
	}

	gateErr = errors.New("database gone")
	if _, err := s.Start(ctx, httptest.NewRecorder(), nil, u.TenantID, u.ID, store.SessionFull); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("failing gate: %v", err)
	}
}
