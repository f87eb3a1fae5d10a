package store

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleViewer}))
		hash := []byte("session-hash-0123456789abcdef")
		se := Session{Hash: hash, TenantID: a.ID, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour)}
		check(t, s.CreateSession(ctx, se))
		wantErr(t, "same hash", s.CreateSession(ctx, se), ErrExists)
		wantErr(t, "unknown user", s.CreateSession(ctx, Session{Hash: []byte("x"), TenantID: a.ID, UserID: "nope", ExpiresAt: t0}), ErrNotFound)
		wantErr(t, "no expiry", s.CreateSession(ctx, Session{Hash: []byte("y"), TenantID: a.ID, UserID: u.ID}), ErrInvalid)

		got := must[Session](t)(s.SessionByHash(ctx, hash))
		if !bytes.Equal(got.Hash, hash) || got.TenantID != a.ID || got.UserID != u.ID || !got.CreatedAt.Equal(t0) ||
			!got.LastSeen.Equal(t0) || !got.ExpiresAt.Equal(se.ExpiresAt) {
			t.Errorf("SessionByHash = %+v", got)
		}
		later := t0.Add(7*time.Minute + 3)
		check(t, s.TouchSession(ctx, hash, later))
		if got := must[Session](t)(s.SessionByHash(ctx, hash)); !got.LastSeen.Equal(later) || !got.CreatedAt.Equal(t0) {
			t.Errorf("after touch: %+v", got)
		}
		wantErr(t, "touch missing", s.TouchSession(ctx, []byte("nope"), later), ErrNotFound)

		check(t, s.DeleteSession(ctx, hash))
		_, err := s.SessionByHash(ctx, hash)
		wantErr(t, "after delete", err, ErrNotFound)
		wantErr(t, "delete again", s.DeleteSession(ctx, hash), ErrNotFound)
	})
}
