package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/store"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery staple ✓")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q lacks the Argon2id parameters", h)
	}
	if err := CheckPassword(h, "correct horse battery staple ✓"); err != nil {
		t.Errorf("right password refused: %v", err)
	}
	if err := CheckPassword(h, "correct horse battery staple"); !errors.Is(err, ErrPassword) {
		t.Errorf("wrong password: %v", err)
	}
	h2, _ := HashPassword("correct horse battery staple ✓")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=2,p=1$AA$AA"} {
		if err := CheckPassword(bad, "x"); err == nil {
			t.Errorf("CheckPassword(%q) accepted", bad)
		}
	}
}

type fakeTokens struct{ t store.Token }

func (f fakeTokens) TokenByHash(_ context.Context, hash []byte) (store.Token, error) {
	if string(hash) == string(f.t.Hash) {
		return f.t, nil
	}
	return store.Token{}, store.ErrNotFound
}

func TestBearer(t *testing.T) {
	tok, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := fakeTokens{store.Token{ID: "t1", TenantID: "ten", Hash: hash, Scope: ScopeIngest, ExpiresAt: now.Add(time.Hour)}}
	revokedAt := now
	revoked := good
	revoked.t.RevokedAt = &revokedAt
	expired := good
	expired.t.ExpiresAt = now
	cases := []struct {
		name   string
		header string
		tokens Tokens
		want   error
	}{
		{"good", "Bearer " + tok, good, nil},
		{"lowercase scheme", "bearer " + tok, good, nil},
		{"missing", "", good, ErrNoCredentials},
		{"basic", "Basic " + tok, good, ErrBadToken},
		{"unknown", "Bearer aula_" + strings.Repeat("A", 43), good, ErrBadToken},
		{"short", "Bearer aula_x", good, ErrBadToken},
		{"revoked", "Bearer " + tok, revoked, ErrExpired},
		{"expired", "Bearer " + tok, expired, ErrExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			p, err := Bearer(context.Background(), c.tokens, r, now)
			if !errors.Is(err, c.want) || (err == nil && p.TenantID != "ten") {
				t.Errorf("Bearer = %+v, %v; want %v", p, err, c.want)
			}
		})
	}
	if !(Principal{Scope: ScopeAdmin}).Allows(ScopeIngest) || (Principal{Scope: ScopeView}).Allows(ScopeIngest) {
		t.Error("scope rules wrong")
	}
}

func FuzzBearer(f *testing.F) {
	f.Add("Bearer aula_" + strings.Repeat("A", 43))
	f.Add("Bearer")
	f.Add("bearer  x y")
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		_, _ = Bearer(context.Background(), fakeTokens{}, r, time.Now())
	})
}
