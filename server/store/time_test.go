package store

import (
	"context"
	"testing"
	"time"
)

// TestTimeRoundTrip stores times with odd nanoseconds in other zones and reads them back
// as the same instants, in UTC, to the nanosecond.
func TestTimeRoundTrip(t *testing.T) {
	zone := time.FixedZone("UTC+5:45", 5*3600+45*60)
	at := func(ns int) time.Time { return time.Date(2031, 12, 31, 23, 59, 59, ns, zone) }
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		same := func(what string, got, want time.Time) {
			t.Helper()
			if !got.Equal(want) || got.Location() != time.UTC || got != want.UTC() {
				t.Errorf("%s = %v, want %v in UTC", what, got, want)
			}
		}
		tn := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a", CreatedAt: at(1)}))
		same("tenant created", must[Tenant](t)(s.Tenant(ctx, tn.ID)).CreatedAt, at(1))
		same("tenant created, as returned", tn.CreatedAt, at(1))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: tn.ID, Email: "u@x", Role: RoleViewer, CreatedAt: at(2)}))
		same("user created", must[User](t)(s.User(ctx, tn.ID, u.ID)).CreatedAt, at(2))
		revoked := at(5)
		tok := must[Token](t)(s.CreateToken(ctx, Token{TenantID: tn.ID, Hash: []byte("h"), CreatedAt: at(3), ExpiresAt: at(4), RevokedAt: &revoked}))
		got := must[Token](t)(s.TokenByHash(ctx, tok.Hash))
		same("token created", got.CreatedAt, at(3))
		same("token expires", got.ExpiresAt, at(4))
		same("token revoked", *got.RevokedAt, at(5))
		check(t, s.CreateSession(ctx, Session{Hash: []byte("s"), TenantID: tn.ID, UserID: u.ID, CreatedAt: at(6), LastSeen: at(7), ExpiresAt: at(8)}))
		se := must[Session](t)(s.SessionByHash(ctx, []byte("s")))
		same("session created", se.CreatedAt, at(6))
		same("session seen", se.LastSeen, at(7))
		same("session expires", se.ExpiresAt, at(8))

		r := lecture(tn.ID, "rec", at(999_999_999))
		r.CreatedAt = at(9)
		must[bool](t)(s.PutRecording(ctx, r))
		must[bool](t)(s.PutSegment(ctx, tn.ID, "rec", "cam", Segment{Seq: 0, Digest: "d", CreatedAt: at(11)}))
		check(t, s.CompleteRecording(ctx, tn.ID, "rec", 1, at(10)))
		rec := must[Recording](t)(s.Recording(ctx, tn.ID, "rec"))
		same("recording started", rec.StartedAt, at(999_999_999))
		same("recording created", rec.CreatedAt, at(9))
		same("recording completed", *rec.CompletedAt, at(10))
		same("segment created", must[[]Segment](t)(s.Segments(ctx, tn.ID, "rec", "cam"))[0].CreatedAt, at(11))

		// A zero start stays zero; times the store cannot keep are refused.
		r = lecture(tn.ID, "zero", time.Time{})
		must[bool](t)(s.PutRecording(ctx, r))
		if got := must[Recording](t)(s.Recording(ctx, tn.ID, "zero")).StartedAt; !got.IsZero() {
			t.Errorf("zero start read back as %v", got)
		}
		_, err := s.CreateTenant(ctx, Tenant{Name: "old", CreatedAt: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)})
		wantErr(t, "year 1600", err, ErrInvalid)
	})
}
