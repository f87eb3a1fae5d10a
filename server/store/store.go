package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Store is the metadata store. It is safe for concurrent use; Close it when done.
type Store struct {
	db      *sql.DB
	dialect string
	now     func() time.Time
	audit   auditState // audit.go
	stmts   stmtCache  // SQLite's prepared statements (stmtcache.go)
}

// Open connects to the database that dsn names and brings its schema up to date. dsn is
// "sqlite:/path/aula.db" (the file is created, in WAL mode) or a PostgreSQL URL,
// "postgres://user@host:port/db?sslmode=disable".
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, dialect, err := openDB(dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect %s: %w", dialect, err)
	}
	if err := migrate(ctx, db, dialect); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, dialect: dialect, now: time.Now}, nil
}

// Close closes the database connections.
func (s *Store) Close() error {
	s.stmts.close()
	return s.db.Close()
}

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// read runs fn where only tenantID's rows are visible. SQLite reads need no transaction;
// PostgreSQL needs one to carry the tenant to the row-level security policies.
func (s *Store) read(ctx context.Context, tenantID string, fn func(q querier) error) error {
	if s.dialect == dialectSQLite {
		return fn(s.querier(nil))
	}
	return s.tx(ctx, true, func(tx *sql.Tx) error {
		if err := s.declare(ctx, tx, settingTenant, tenantID); err != nil {
			return err
		}
		return fn(tx)
	})
}

// write runs fn in a transaction that may see and write only tenantID's rows.
func (s *Store) write(ctx context.Context, tenantID string, fn func(q querier) error) error {
	return s.tx(ctx, false, func(tx *sql.Tx) error {
		if err := s.declare(ctx, tx, settingTenant, tenantID); err != nil {
			return err
		}
		return fn(s.querier(tx))
	})
}

// lookup runs fn where the finders' tables may be read across tenants.
func (s *Store) lookup(ctx context.Context, fn func(q querier) error) error {
	if s.dialect == dialectSQLite {
		return fn(s.querier(nil))
	}
	return s.tx(ctx, true, func(tx *sql.Tx) error {
		if err := s.declare(ctx, tx, settingLookup, "on"); err != nil {
			return err
		}
		return fn(tx)
	})
}

// tx runs fn in a transaction and commits it if fn succeeds.
func (s *Store) tx(ctx context.Context, readOnly bool, fn func(tx *sql.Tx) error) error {
	// modernc.org/sqlite rejects read-only transactions; SQLite's are all BEGIN IMMEDIATE.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly && s.dialect == dialectPostgres})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rowsAffected returns the number of rows res changed.
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// newID returns a UUIDv7, which sorts by creation time.
func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return id.String(), nil
}

// Times within these bounds fit int64 Unix nanoseconds.
var (
	minTime = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// checkTimes returns ErrInvalid if a non-zero time falls outside what the store keeps.
func checkTimes(ts ...time.Time) error {
	for _, t := range ts {
		if !t.IsZero() && (t.Before(minTime) || !t.Before(maxTime)) {
			return fmt.Errorf("time %s: outside 1678-2261: %w", t.Format(time.RFC3339Nano), ErrInvalid)
		}
	}
	return nil
}

// nanos is the stored form of t: Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// roundTrip returns t as it will read back from the store.
func roundTrip(t time.Time) time.Time { return fromNanos(nanos(t)) }

// nullNanos is the stored form of an optional time.
func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

// fromNullNanos is the inverse of nullNanos.
func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// placeholders returns "$first, ..., $(first+n-1)".
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
	}
	return b.String()
}

// notFound maps sql.ErrNoRows to ErrNotFound, naming what was missing with format and
// args, and returns other errors as they are.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf(format+": %w", append(args, ErrNotFound)...)
	}
	return err
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
