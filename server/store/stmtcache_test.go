package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestStatementCache checks that queries through the SQLite statement cache answer as
// uncached ones do: on the pool and in transactions, past the cache's bound, and with
// the database's own message for a query that does not parse.
func TestStatementCache(t *testing.T) {
	s := openStore(t, newDSN(t, dialectSQLite))
	ctx := context.Background()
	sum := func(q querier, n int) (int, error) {
		var got int
		err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT $1 + %d", n), 1).Scan(&got)
		return got, err
	}
	for n := range maxCachedStmts + 20 {
		var inRead, inWrite int
		if err := s.read(ctx, "t", func(q querier) (err error) { inRead, err = sum(q, n); return }); err != nil {
			t.Fatalf("read %d: %v", n, err)
		}
		if err := s.write(ctx, "t", func(q querier) (err error) { inWrite, err = sum(q, n); return }); err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
		if inRead != n+1 || inWrite != n+1 {
			t.Fatalf("SELECT 1 + %d: read %d, write %d", n, inRead, inWrite)
		}
	}
	if got := len(s.stmts.m); got != maxCachedStmts {
		t.Errorf("%d statements cached, want the bound, %d", got, maxCachedStmts)
	}
	// A cached statement runs again, on whichever connection, with new arguments.
	for range 3 {
		if err := s.read(ctx, "t", func(q querier) error {
			got, err := sum(q, 0)
			if err == nil && got != 1 {
				err = fmt.Errorf("SELECT $1 + 0 = %d, want 1", got)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Writes in a transaction through cached statements commit, and roll back on failure.
	if err := s.write(ctx, "t", func(q querier) error {
		_, err := q.ExecContext(ctx, `CREATE TABLE cache_probe (n INTEGER)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	insert := func(n int, fail bool) error {
		return s.write(ctx, "t", func(q querier) error {
			if _, err := q.ExecContext(ctx, `INSERT INTO cache_probe (n) VALUES ($1)`, n); err != nil {
				return err
			}
			if fail {
				return fmt.Errorf("planned failure")
			}
			return nil
		})
	}
	if err := insert(1, false); err != nil {
		t.Fatal(err)
	}
	if err := insert(2, true); err == nil {
		t.Fatal("the failing transaction reported no error")
	}
	var rows []int
	if err := s.read(ctx, "t", func(q querier) error {
		r, err := q.QueryContext(ctx, `SELECT n FROM cache_probe ORDER BY n`)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var n int
			if err := r.Scan(&n); err != nil {
				return err
			}
			rows = append(rows, n)
		}
		return r.Err()
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rows) != "[1]" {
		t.Errorf("rows %v, want [1]: the committed insert only", rows)
	}
	// A query that does not parse is not cached, and fails with SQLite's reason.
	s.stmts.close()
	err := s.read(ctx, "t", func(q querier) error {
		_, err := q.ExecContext(ctx, `SELEC 1`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("a query that does not parse: err = %v, want SQLite's syntax error", err)
	}
	if len(s.stmts.m) != 0 {
		t.Errorf("%d statements cached after a failed prepare, want 0", len(s.stmts.m))
	}
}
