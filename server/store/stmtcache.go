package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps SQLite's prepared statements by query text. modernc.org/sqlite parses
// every query it is handed afresh, which on the ingest path (a recording's lookup, the
// segment's, its row) was a tenth of the server's CPU; database/sql prepares a cached
// statement once on each connection that runs it. PostgreSQL needs none of this: pgx
// keeps a statement cache on each connection itself.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache: the store's queries are constants, apart from the
// few with a list of placeholders, whose every length is a query of its own.
const maxCachedStmts = 512

// get returns query's statement prepared on db, or nil when it is not cached and cannot
// be (the cache is full, or preparing failed: running the query uncached then reports
// why).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	st := c.m[query]
	full := len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if st != nil || full {
		return st
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if had := c.m[query]; had != nil || len(c.m) >= maxCachedStmts {
		st.Close()
		return had
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// cachedQuerier runs queries through the store's statement cache, on the pool or in tx.
type cachedQuerier struct {
	s  *Store
	tx *sql.Tx // nil: the pool
}

// querier returns what fn should query with: tx or the pool, through the statement
// cache on SQLite.
func (s *Store) querier(tx *sql.Tx) querier {
	if s.dialect != dialectSQLite {
		if tx == nil {
			return s.db
		}
		return tx
	}
	return cachedQuerier{s: s, tx: tx}
}

// stmt returns query's cached statement for this querier, or nil.
func (q cachedQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	st := q.s.stmts.get(ctx, q.s.db, query)
	if st == nil || q.tx == nil {
		return st
	}
	// The transaction's connection reuses the statement if it was prepared on it.
	return q.tx.StmtContext(ctx, st)
}

func (q cachedQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if q.tx != nil {
		return q.tx.ExecContext(ctx, query, args...)
	}
	return q.s.db.ExecContext(ctx, query, args...)
}

func (q cachedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	if q.tx != nil {
		return q.tx.QueryContext(ctx, query, args...)
	}
	return q.s.db.QueryContext(ctx, query, args...)
}

func (q cachedQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if q.tx != nil {
		return q.tx.QueryRowContext(ctx, query, args...)
	}
	return q.s.db.QueryRowContext(ctx, query, args...)
}
