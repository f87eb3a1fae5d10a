package store

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleCreator}))
		exp := t0.Add(15 * time.Minute)
		tok := must[Token](t)(s.CreateToken(ctx, Token{TenantID: a.ID, UserID: u.ID, Hash: []byte{9, 0, 9}, Scope: "recordings:write", ExpiresAt: exp}))
		agent := must[Token](t)(s.CreateToken(ctx, Token{TenantID: a.ID, Hash: []byte("agent"), Scope: "agent", ExpiresAt: exp}))

		got := must[Token](t)(s.TokenByHash(ctx, []byte{9, 0, 9}))
		if got.ID != tok.ID || got.TenantID != a.ID || got.UserID != u.ID || !bytes.Equal(got.Hash, tok.Hash) ||
			got.Scope != "recordings:write" || !got.CreatedAt.Equal(tok.CreatedAt) || !got.ExpiresAt.Equal(exp) || got.RevokedAt != nil {
			t.Errorf("TokenByHash = %+v, want %+v", got, tok)
		}
		if got := must[Token](t)(s.TokenByHash(ctx, []byte("agent"))); got.ID != agent.ID || got.UserID != "" {
			t.Errorf("agent token = %+v", got)
		}
		_, err := s.TokenByHash(ctx, []byte{9, 0})
		wantErr(t, "unknown hash", err, ErrNotFound)
		_, err = s.CreateToken(ctx, Token{TenantID: a.ID, Hash: []byte{9, 0, 9}, ExpiresAt: exp})
		wantErr(t, "same hash", err, ErrExists)
		_, err = s.CreateToken(ctx, Token{TenantID: a.ID, UserID: "nope", Hash: []byte{1}, ExpiresAt: exp})
		wantErr(t, "unknown user", err, ErrNotFound)
		_, err = s.CreateToken(ctx, Token{TenantID: a.ID, Hash: []byte{2}})
		wantErr(t, "no expiry", err, ErrInvalid)
		_, err = s.CreateToken(ctx, Token{TenantID: a.ID, ExpiresAt: exp})
		wantErr(t, "no hash", err, ErrInvalid)

		check(t, s.RevokeToken(ctx, a.ID, tok.ID))
		first := must[Token](t)(s.TokenByHash(ctx, tok.Hash)).RevokedAt
		if first == nil {
			t.Fatal("RevokedAt nil after RevokeToken")
		}
		check(t, s.RevokeToken(ctx, a.ID, tok.ID))
		if again := must[Token](t)(s.TokenByHash(ctx, tok.Hash)).RevokedAt; again == nil || !again.Equal(*first) {
			t.Errorf("second revocation moved RevokedAt from %v to %v", first, again)
		}
		if r := must[Token](t)(s.TokenByHash(ctx, agent.Hash)).RevokedAt; r != nil {
			t.Errorf("other token revoked at %v", r)
		}
		wantErr(t, "revoke missing", s.RevokeToken(ctx, a.ID, "nope"), ErrNotFound)
	})
}
