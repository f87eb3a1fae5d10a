package store

import (
	"context"
	"database/sql"
	"reflect"
	"testing"
	"time"
)

// TestTenantIsolation gives two tenants the same recording IDs, titles, track IDs and
// e-mail addresses, and checks that each sees only its own rows and that every method
// answers ErrNotFound for the other tenant's IDs.
func TestTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, b := tenant(t, s, "a"), tenant(t, s, "b")
		ua := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "same@example.org", Role: RoleAdmin}))
		ub := must[User](t)(s.CreateUser(ctx, User{TenantID: b.ID, Email: "same@example.org", Role: RoleViewer}))
		onlyA := must[User](t)(s.CreateUser(ctx, User{TenantID: a.ID, Email: "only-a@example.org", Role: RoleViewer}))
		tokA := must[Token](t)(s.CreateToken(ctx, Token{TenantID: a.ID, UserID: ua.ID, Hash: []byte("tok-a"), ExpiresAt: t0.Add(time.Hour)}))

		// The same recording ID and title in both; each tenant's tracks differ in codec.
		ra, rb := lecture(a.ID, "rec", t0), lecture(b.ID, "rec", t0)
		rb.Tracks[0].Codec = "avc1.42e01e"
		for _, r := range []Recording{ra, rb} {
			if created := must[bool](t)(s.PutRecording(ctx, r)); !created {
				t.Errorf("tenant %s: the same recording ID was not created", r.TenantID)
			}
		}
		must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "only-a", t0)))
		must[bool](t)(s.PutSegment(ctx, a.ID, "rec", "cam", Segment{Seq: 1, Digest: "digest-a", Key: "a/1"}))
		must[bool](t)(s.PutSegment(ctx, b.ID, "rec", "cam", Segment{Seq: 1, Digest: "digest-b", Key: "b/1"}))
		check(t, s.SetTrackInit(ctx, a.ID, "rec", "cam", "init-a", "a/init"))
		check(t, s.SetTrackInit(ctx, b.ID, "rec", "cam", "init-b", "b/init"))

		// Each tenant sees its own rows.
		if got := must[User](t)(s.UserByEmail(ctx, b.ID, "same@example.org")); got != ub {
			t.Errorf("b's user by e-mail = %+v", got)
		}
		if got := must[Recording](t)(s.Recording(ctx, b.ID, "rec")); got.Tracks[0].Codec != "avc1.42e01e" || got.Tracks[0].InitDigest != "init-b" {
			t.Errorf("b's recording = %+v", got)
		}
		if list := must[[]Recording](t)(s.ListRecordings(ctx, b.ID, 10, 0)); len(list) != 1 || list[0].TenantID != b.ID {
			t.Errorf("b lists %+v", list)
		}
		if list := must[[]Recording](t)(s.ListRecordings(ctx, a.ID, 10, 0)); len(list) != 2 {
			t.Errorf("a lists %d recordings, want 2", len(list))
		}
		if segs := must[[]Segment](t)(s.Segments(ctx, b.ID, "rec", "cam")); len(segs) != 1 || segs[0].Digest != "digest-b" {
			t.Errorf("b's segments = %+v", segs)
		}

		// Keeping a's rows as they are, b asks for each of them.
		before := snapshot(t, s, a.ID)
		notFound := func(what string, err error) {
			t.Helper()
			wantErr(t, "as b: "+what, err, ErrNotFound)
		}
		_, err := s.User(ctx, b.ID, onlyA.ID)
		notFound("User", err)
		_, err = s.UserByEmail(ctx, b.ID, "only-a@example.org")
		notFound("UserByEmail", err)
		notFound("RevokeToken", s.RevokeToken(ctx, b.ID, tokA.ID))
		_, err = s.Recording(ctx, b.ID, "only-a")
		notFound("Recording", err)
		notFound("SetTrackInit", s.SetTrackInit(ctx, b.ID, "only-a", "cam", "d", "k"))
		_, err = s.PutSegment(ctx, b.ID, "only-a", "cam", Segment{Seq: 1, Digest: "d"})
		notFound("PutSegment", err)
		_, err = s.Segments(ctx, b.ID, "only-a", "cam")
		notFound("Segments", err)
		notFound("CompleteRecording", s.CompleteRecording(ctx, b.ID, "only-a", 1, t0))
		notFound("DeleteRecording", s.DeleteRecording(ctx, b.ID, "only-a"))
		_, err = s.CreateUser(ctx, User{TenantID: b.ID, ID: onlyA.ID, Email: "x@example.org", Role: RoleViewer})
		if err != nil {
			t.Errorf("as b: CreateUser with a's user ID: %v", err)
		}
		_, err = s.CreateToken(ctx, Token{TenantID: b.ID, UserID: onlyA.ID, Hash: []byte("tok-b"), ExpiresAt: t0})
		if err != nil {
			t.Errorf("as b: CreateToken for b's user with a's ID: %v", err)
		}
		notFound("CreateSession for a's user", s.CreateSession(ctx, Session{Hash: []byte("s"), TenantID: b.ID, UserID: ua.ID + "x", ExpiresAt: t0}))
		// b's own "rec" changes leave a's alone.
		rb.Title = "b's new title"
		must[bool](t)(s.PutRecording(ctx, rb))
		check(t, s.CompleteRecording(ctx, b.ID, "rec", 5, t0))
		check(t, s.DeleteRecording(ctx, b.ID, "rec"))
		if after := snapshot(t, s, a.ID); !reflect.DeepEqual(after, before) {
			t.Errorf("a's rows changed by b:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

type tenantRows struct {
	Users      []User
	Token      Token
	Recordings []Recording
	Segments   []Segment
}

func snapshot(t *testing.T, s *Store, tenantID string) tenantRows {
	t.Helper()
	ctx := context.Background()
	var rows tenantRows
	rows.Users = must[[]User](t)(s.UsersByEmail(ctx, "only-a@example.org"))
	rows.Token = must[Token](t)(s.TokenByHash(ctx, []byte("tok-a")))
	rows.Recordings = must[[]Recording](t)(s.ListRecordings(ctx, tenantID, 10, 0))
	rows.Segments = must[[]Segment](t)(s.Segments(ctx, tenantID, "rec", "cam"))
	return rows
}

// TestRowLevelSecurity checks PostgreSQL's second guard: a query that forgets its tenant
// sees nothing, and one tenant's transaction cannot write another's rows.
func TestRowLevelSecurity(t *testing.T) {
	s := openStore(t, newDSN(t, dialectPostgres))
	ctx := context.Background()
	a, b := tenant(t, s, "a"), tenant(t, s, "b")
	for _, id := range []string{a.ID, b.ID} {
		must[bool](t)(s.PutRecording(ctx, lecture(id, "rec", t0)))
		must[User](t)(s.CreateUser(ctx, User{TenantID: id, Email: "u@example.org", Role: RoleViewer}))
	}
	count := func(setting, value, query string) (n int) {
		t.Helper()
		check(t, s.tx(ctx, false, func(tx *sql.Tx) error {
			if setting != "" {
				if err := s.declare(ctx, tx, setting, value); err != nil {
					return err
				}
			}
			return tx.QueryRowContext(ctx, query).Scan(&n)
		}))
		return n
	}
	for _, table := range append([]string{"tenants"}, tenantTables...) {
		if n := count("", "", `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("no tenant declared: %d rows of %s visible", n, table)
		}
	}
	if n := count(settingTenant, a.ID, `SELECT count(*) FROM tracks`); n != 2 {
		t.Errorf("as a, unscoped: %d tracks visible, want a's 2", n)
	}
	if n := count(settingTenant, a.ID, `SELECT count(*) FROM tenants`); n != 1 {
		t.Errorf("as a, unscoped: %d tenants visible, want 1", n)
	}
	if n := count(settingLookup, "on", `SELECT count(*) FROM users`); n != 2 {
		t.Errorf("lookup: %d users visible, want 2", n)
	}
	if n := count(settingLookup, "on", `SELECT count(*) FROM recordings`); n != 0 {
		t.Errorf("lookup: %d recordings visible, want 0", n)
	}

	write := func(setting, value, stmt string) (int64, error) {
		var n int64
		err := s.tx(ctx, false, func(tx *sql.Tx) error {
			if err := s.declare(ctx, tx, setting, value); err != nil {
				return err
			}
			var err error
			n, err = rowsAffected(tx.ExecContext(ctx, stmt))
			return err
		})
		return n, err
	}
	if n, err := write(settingTenant, a.ID, `UPDATE recordings SET title = 'x'`); err != nil || n != 1 {
		t.Errorf("as a, unscoped update: %d rows, %v; want a's 1", n, err)
	}
	if n, err := write(settingLookup, "on", `UPDATE users SET role = 'admin'`); err != nil || n != 0 {
		t.Errorf("lookup update: %d rows, %v; want 0", n, err)
	}
	if _, err := write(settingTenant, a.ID, `INSERT INTO recordings (tenant_id, id, title, state, started_at, created_at, updated_at, duration)
		VALUES ('`+b.ID+`', 'forged', '', 'capturing', 0, 0, 0, 0)`); err == nil {
		t.Error("as a, insert into b: no error")
	}
	if n, err := write(settingTenant, a.ID, `DELETE FROM tenants`); err != nil || n != 1 {
		t.Errorf("as a, delete tenants: %d rows, %v; want a's 1", n, err)
	}
	if got := must[Recording](t)(s.Recording(ctx, b.ID, "rec")); got.Title != "Linear algebra 3" {
		t.Errorf("b's recording changed: %+v", got)
	}
}
