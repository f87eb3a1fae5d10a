package store

import (
	"context"
	"testing"
	"time"
)

func TestEnrollmentRedeem(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		e := must[Enrollment](t)(s.CreateEnrollment(ctx, Enrollment{TenantID: a.ID, Room: "Hall B", CodeHash: []byte("code"), ExpiresAt: t0.Add(time.Hour)}))
		c := must[OAuthClient](t)(s.RedeemEnrollment(ctx, []byte("code"), []byte("secret"), t0.Add(time.Minute)))
		if c.TenantID != a.ID || c.Room != "Hall B" || len(c.ID) != len(AgentClientPrefix)+36 {
			t.Errorf("client %+v", c)
		}
		_, err := s.RedeemEnrollment(ctx, []byte("code"), []byte("secret2"), t0.Add(2*time.Minute))
		wantErr(t, "second use", err, ErrUsed)
		_, err = s.RedeemEnrollment(ctx, []byte("nope"), []byte("secret3"), t0)
		wantErr(t, "unknown code", err, ErrNotFound)
		must[Enrollment](t)(s.CreateEnrollment(ctx, Enrollment{TenantID: a.ID, Room: "Hall C", CodeHash: []byte("late"), ExpiresAt: t0.Add(time.Hour)}))
		_, err = s.RedeemEnrollment(ctx, []byte("late"), []byte("secret4"), t0.Add(time.Hour))
		wantErr(t, "expired code", err, ErrExpired)
		_, err = s.CreateEnrollment(ctx, Enrollment{TenantID: a.ID, Room: "x", CodeHash: []byte("code"), ExpiresAt: t0.Add(time.Hour)})
		if err == nil {
			t.Error("a second enrollment with the same code hash was stored")
		}
		list := must[[]Enrollment](t)(s.Enrollments(ctx, a.ID))
		if len(list) != 2 || list[1].ID != e.ID || list[1].UsedAt == nil || list[1].ClientID != c.ID {
			t.Errorf("enrollments %+v", list)
		}
		if got := must[OAuthClient](t)(s.OAuthClientByID(ctx, c.ID)); got.TenantID != a.ID || string(got.SecretHash) != "secret" {
			t.Errorf("client by id %+v", got)
		}
	})
}

func TestClientTokensRevokedWithClient(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		b := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "b"}))
		must[Enrollment](t)(s.CreateEnrollment(ctx, Enrollment{TenantID: a.ID, Room: "r", CodeHash: []byte("c"), ExpiresAt: t0.Add(time.Hour)}))
		c := must[OAuthClient](t)(s.RedeemEnrollment(ctx, []byte("c"), []byte("s"), t0))
		tok := must[Token](t)(s.CreateClientToken(ctx, Token{TenantID: a.ID, Hash: []byte("t1"), Scope: "ingest", ExpiresAt: t0.Add(15 * time.Minute)}, c.ID))
		got, client := tokenOf(t)(s.ClientTokenByHash(ctx, []byte("t1")))
		if got.ID != tok.ID || client != c.ID || got.RevokedAt != nil {
			t.Errorf("token %+v of %q", got, client)
		}
		wantErr(t, "another tenant revokes", s.RevokeOAuthClient(ctx, b.ID, c.ID, t0), ErrNotFound)
		check(t, s.RevokeOAuthClient(ctx, a.ID, c.ID, t0.Add(time.Minute)))
		if got, _ := tokenOf(t)(s.ClientTokenByHash(ctx, []byte("t1"))); got.RevokedAt == nil {
			t.Error("the client's token outlived its revocation")
		}
		_, err := s.CreateClientToken(ctx, Token{TenantID: a.ID, Hash: []byte("t2"), Scope: "ingest", ExpiresAt: t0.Add(15 * time.Minute)}, c.ID)
		wantErr(t, "token for a revoked client", err, ErrRevoked)
		if got := must[OAuthClient](t)(s.OAuthClientByID(ctx, c.ID)); got.RevokedAt == nil {
			t.Error("client not revoked")
		}
	})
}

func tokenOf(t *testing.T) func(Token, string, error) (Token, string) {
	return func(tok Token, c string, err error) (Token, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tok, c
	}
}

func TestRefreshRotation(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleCreator}))
		first := must[RefreshToken](t)(s.CreateRefreshToken(ctx, RefreshToken{TenantID: a.ID, UserID: u.ID, ClientID: "aula-recorder",
			Hash: []byte("r1"), Scopes: []string{"ingest", "offline_access"}, AuthTime: t0, ExpiresAt: t0.Add(time.Hour)}))
		second := must[RefreshToken](t)(s.RotateRefreshToken(ctx, []byte("r1"), RefreshToken{Hash: []byte("r2"), Scopes: first.Scopes, ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(time.Minute)))
		if second.Family != first.ID || second.UserID != u.ID || second.TenantID != a.ID {
			t.Errorf("rotated %+v from %+v", second, first)
		}
		got := must[RefreshToken](t)(s.RefreshTokenByHash(ctx, []byte("r2")))
		if got.Family != first.ID || len(got.Scopes) != 2 || !got.AuthTime.Equal(roundTrip(t0)) {
			t.Errorf("stored %+v", got)
		}
		_, err := s.RotateRefreshToken(ctx, []byte("r1"), RefreshToken{Hash: []byte("r3"), ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(2*time.Minute))
		wantErr(t, "old token again", err, ErrUsed)
		_, err = s.RotateRefreshToken(ctx, []byte("r2"), RefreshToken{Hash: []byte("r4"), ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(3*time.Minute))
		wantErr(t, "successor after replay", err, ErrRevoked)
		third := must[RefreshToken](t)(s.CreateRefreshToken(ctx, RefreshToken{TenantID: a.ID, UserID: u.ID, ClientID: "aula-recorder",
			Hash: []byte("x1"), AuthTime: t0, ExpiresAt: t0.Add(time.Hour)}))
		_, err = s.RotateRefreshToken(ctx, []byte("x1"), RefreshToken{Hash: []byte("x2"), ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(time.Hour))
		wantErr(t, "expired", err, ErrExpired)
		check(t, s.RevokeRefreshFamily(ctx, a.ID, third.Family, t0))
		_, err = s.RotateRefreshToken(ctx, []byte("x1"), RefreshToken{Hash: []byte("x3"), ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(time.Minute))
		wantErr(t, "revoked family", err, ErrRevoked)
	})
}

func TestAuthRequestsAndDeviceCodes(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "a"}))
		u := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "u@example.org", Role: RoleCreator}))
		r := must[AuthRequest](t)(s.CreateAuthRequest(ctx, AuthRequest{ClientID: "aula-recorder", RedirectURI: "http://127.0.0.1:5/callback",
			Scopes: []string{"ingest"}, CodeChallenge: "c", CodeMethod: "S256", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}))
		wantErr(t, "code before approval", s.SaveAuthCode(ctx, r.ID, []byte("code")), ErrNotFound)
		check(t, s.ApproveAuthRequest(ctx, r.ID, a.ID, u.ID, t0.Add(time.Minute)))
		wantErr(t, "second approval", s.ApproveAuthRequest(ctx, r.ID, a.ID, u.ID, t0.Add(time.Minute)), ErrNotFound)
		check(t, s.SaveAuthCode(ctx, r.ID, []byte("code")))
		wantErr(t, "second code", s.SaveAuthCode(ctx, r.ID, []byte("code2")), ErrNotFound)
		got := must[AuthRequest](t)(s.AuthRequestByCodeHash(ctx, []byte("code")))
		if got.ID != r.ID || !got.Done || got.UserID != u.ID || got.TenantID != a.ID || got.CodeChallenge != "c" {
			t.Errorf("by code %+v", got)
		}
		check(t, s.ConsumeAuthRequest(ctx, r.ID))
		wantErr(t, "consumed twice", s.ConsumeAuthRequest(ctx, r.ID), ErrUsed)
		_, err := s.AuthRequestByCodeHash(ctx, []byte("code"))
		wantErr(t, "code after consumption", err, ErrNotFound)
		late := must[AuthRequest](t)(s.CreateAuthRequest(ctx, AuthRequest{ClientID: "aula-recorder", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
		wantErr(t, "approve expired", s.ApproveAuthRequest(ctx, late.ID, a.ID, u.ID, t0.Add(time.Minute)), ErrNotFound)

		check(t, s.CreateDeviceCode(ctx, DeviceCode{DeviceHash: []byte("dev"), UserCode: "BCDF-GHJK", ClientID: "aula-recorder",
			Scopes: []string{"ingest"}, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}))
		wantErr(t, "same user code", s.CreateDeviceCode(ctx, DeviceCode{DeviceHash: []byte("dev2"), UserCode: "BCDF-GHJK",
			CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}), ErrExists)
		if d := must[DeviceCode](t)(s.PollDeviceCode(ctx, "aula-recorder", []byte("dev"))); d.State != DevicePending {
			t.Errorf("poll before approval: %+v", d)
		}
		_, err = s.PollDeviceCode(ctx, "other", []byte("dev"))
		wantErr(t, "poll by another client", err, ErrNotFound)
		check(t, s.DecideDeviceCode(ctx, "BCDF-GHJK", true, a.ID, u.ID, t0.Add(time.Minute)))
		wantErr(t, "decide twice", s.DecideDeviceCode(ctx, "BCDF-GHJK", false, a.ID, u.ID, t0.Add(time.Minute)), ErrNotFound)
		if d := must[DeviceCode](t)(s.PollDeviceCode(ctx, "aula-recorder", []byte("dev"))); d.State != DeviceApproved || d.UserID != u.ID {
			t.Errorf("poll after approval: %+v", d)
		}
		_, err = s.PollDeviceCode(ctx, "aula-recorder", []byte("dev"))
		wantErr(t, "poll after tokens", err, ErrNotFound)
		check(t, s.CreateDeviceCode(ctx, DeviceCode{DeviceHash: []byte("dev3"), UserCode: "LMNP-QRST", ClientID: "aula-recorder",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
		wantErr(t, "approve expired device", s.DecideDeviceCode(ctx, "LMNP-QRST", true, a.ID, u.ID, t0.Add(time.Minute)), ErrNotFound)
	})
}
