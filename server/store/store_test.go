package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/pgtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var dialects = []string{dialectSQLite, dialectPostgres}

// newDSN returns the DSN of a new, empty database of the dialect.
func newDSN(t *testing.T, dialect string) string {
	t.Helper()
	if dialect == dialectSQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "aula.db")
	}
	return pgtest.Start(t)
}

// forEachDSN runs fn once with an empty SQLite database and once with an empty
// PostgreSQL database.
func forEachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, newDSN(t, d))
		})
	}
}

// forEachStore runs fn once with a store on SQLite and once on PostgreSQL, each with an
// empty database and a clock that starts at t0 and ticks a millisecond at every reading.
func forEachStore(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	forEachDSN(t, func(t *testing.T, dsn string) {
		fn(t, openStore(t, dsn))
	})
}

const ms = time.Millisecond

var t0 = time.Date(2025, 3, 4, 9, 15, 0, 123456789, time.UTC)

func openStore(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	var ticks atomic.Int64
	s.now = func() time.Time { return t0.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
	return s
}

// freeze stops the store's clock at at.
func freeze(s *Store, at time.Time) { s.now = func() time.Time { return at } }

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenTwice(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		tn := must[Tenant](t)(s.CreateTenant(ctx, Tenant{Name: "uni", Recipient: "age1x"}))
		check(t, s.Close())

		s2 := openStore(t, dsn)
		if got := must[Tenant](t)(s2.Tenant(ctx, tn.ID)); got.Name != "uni" {
			t.Errorf("after reopening: tenant %+v", got)
		}
		var version int64
		check(t, s2.db.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&version))
		if version != SchemaVersion() {
			t.Errorf("schema version %d, want %d", version, SchemaVersion())
		}
		want := dialectPostgres
		if strings.HasPrefix(dsn, "sqlite:") {
			want = dialectSQLite
		}
		if s2.Dialect() != want {
			t.Errorf("Dialect() = %q, want %q", s2.Dialect(), want)
		}
	})
}

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "mysql://u@h/db", "sqlite:", "sqlite:/tmp/a.db?_pragma=x", "postgres://u@h:notaport/db"} {
		s, err := Open(context.Background(), dsn)
		if err == nil {
			s.Close()
		}
		wantErr(t, fmt.Sprintf("Open(%q)", dsn), err, ErrInvalid)
	}
}

func TestOpenDoesNotLeakPassword(t *testing.T) {
	_, err := Open(context.Background(), "postgres://u:s3cret@h:notaport/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v", err)
	}
}

func TestSQLiteIsWAL(t *testing.T) {
	s := openStore(t, newDSN(t, dialectSQLite))
	var mode string
	var fk int
	ctx := context.Background()
	check(t, s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
	check(t, s.db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk))
	if mode != "wal" || fk != 1 {
		t.Errorf("journal_mode %q foreign_keys %d, want wal 1", mode, fk)
	}
}
