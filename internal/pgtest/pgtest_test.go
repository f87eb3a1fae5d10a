package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStart(t *testing.T) {
	dsn := Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var super, bypass bool
	var owner string
	err = conn.QueryRow(ctx, `SELECT r.rolsuper, r.rolbypassrls, pg_get_userbyid(d.datdba)
		FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`).
		Scan(&super, &bypass, &owner)
	if err != nil {
		t.Fatal(err)
	}
	if super || bypass || owner != Role {
		t.Errorf("superuser %v, bypassrls %v, database owner %q; want false, false, %q", super, bypass, owner, Role)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Errorf("create table as the database owner: %v", err)
	}
	// Some settings are visible only to a superuser.
	su, err := pgx.Connect(ctx, strings.Replace(dsn, Role+"@", superuser+"@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	for s, want := range map[string]string{"listen_addresses": "127.0.0.1", "unix_socket_directories": "", "fsync": "off"} {
		var v string
		if err := su.QueryRow(ctx, `SELECT current_setting($1)`, s).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Errorf("%s = %q, want %q", s, v, want)
		}
	}
}

func TestStop(t *testing.T) {
	c, err := start()
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.database(t, false), c.database(t, false)
	if a == b {
		t.Errorf("two databases with one DSN %q", a)
	}
	c.stop()
	select {
	case <-c.done:
	default:
		t.Error("server still running after stop")
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s: %v, want it removed", c.dir, err)
	}
	ctx := context.Background()
	if conn, err := pgx.Connect(ctx, a); err == nil {
		conn.Close(ctx)
		t.Errorf("server still answers at %s after stop", a)
	}
}

func TestFindBinariesMissing(t *testing.T) {
	_, err := findBinaries(filepath.Join(t.TempDir(), "*", "bin"))
	if err == nil || !strings.Contains(err.Error(), "run make setup (installs postgresql)") {
		t.Fatalf("err = %v, want the make setup hint", err)
	}
}

func TestFindBinariesNewest(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9", "15", "13", "16"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if v == "16" {
			continue // incomplete: no binaries
		}
		for _, b := range []string{"initdb", "postgres"} {
			if err := os.WriteFile(filepath.Join(bin, b), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := findBinaries(filepath.Join(root, "*", "bin"))
	if want := filepath.Join(root, "15", "bin"); err != nil || got != want {
		t.Fatalf("findBinaries = %q, %v; want %q", got, err, want)
	}
}

func TestDatabaseName(t *testing.T) {
	got := databaseName("TestPutSegment/sqlite-vs-Postgres", 7)
	if got != "t7_testputsegment_sqlite_vs_postgres" {
		t.Errorf("databaseName = %q", got)
	}
	if long := databaseName(strings.Repeat("x", 200), 123); len(long) > 63 {
		t.Errorf("name %d bytes long, PostgreSQL keeps 63", len(long))
	}
}
