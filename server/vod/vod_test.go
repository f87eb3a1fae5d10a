package vod

import (
	"strings"
	"testing"
	"time"
)

func TestSigner(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := &Signer{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: 10 * time.Minute, Now: func() time.Time { return now }}
	tok := s.Token("tenant", "viewer", "rec")
	if tenant, viewer, err := s.Verify(tok, "rec"); err != nil || tenant != "tenant" || viewer != "viewer" {
		t.Fatalf("Verify = %q %q %v", tenant, viewer, err)
	}
	payload, sig, _ := strings.Cut(tok, ".")
	other := &Signer{Key: []byte("another key, another server.....")}
	cases := map[string]string{
		"other recording": tok,
		"tampered sig":    payload + "." + strings.Repeat("A", len(sig)),
		"no sig":          payload,
		"empty":           "",
		"other key":       other.Token("tenant", "viewer", "rec"),
		"garbage":         "%%%.%%%",
	}
	for name, tk := range cases {
		rec := "rec"
		if name == "other recording" {
			rec = "rec2"
		}
		if _, _, err := s.Verify(tk, rec); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	now = now.Add(10 * time.Minute)
	if _, _, err := s.Verify(tok, "rec"); err == nil {
		t.Error("expired token accepted")
	}
}

func FuzzVerify(f *testing.F) {
	s := &Signer{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: time.Minute}
	f.Add(s.Token("t", "v", "r"), "r")
	f.Add("a.b", "r")
	f.Fuzz(func(t *testing.T, tok, rec string) {
		tenant, viewer, err := s.Verify(tok, rec)
		if err == nil && (tenant != "t" || viewer != "v" || rec != "r") {
			t.Fatalf("forged token %q accepted for %q", tok, rec)
		}
	})
}
