package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Everything that differs between SQLite and PostgreSQL lives in this file, side by side.

const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// sqliteParams are applied by modernc.org/sqlite to every new connection. The write-ahead
// log lets readers run beside the one writer; busy_timeout makes a second writer wait
// instead of failing; BEGIN IMMEDIATE takes the write lock at the start of a transaction,
// so two read-then-write transactions queue instead of deadlocking on the lock upgrade.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"

// openDB opens the database that dsn names, without connecting yet.
func openDB(dsn string) (*sql.DB, string, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if path == "" || strings.ContainsAny(path, "?#") {
			return nil, "", fmt.Errorf("sqlite path %q: want sqlite:/path/to/aula.db: %w", path, ErrInvalid)
		}
		db, err := sql.Open("sqlite", path+"?"+sqliteParams)
		if err != nil {
			return nil, "", fmt.Errorf("open sqlite %q: %w", path, err)
		}
		// Keep more than database/sql's two idle connections: concurrent uploads use
		// several, and a new one sets its pragmas and prepares its statements again.
		db.SetMaxIdleConns(8)
		return db, dialectSQLite, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			// pgx's message can quote the DSN, password included; say only what failed.
			return nil, "", fmt.Errorf("parse postgres dsn: %w", ErrInvalid)
		}
		db := stdlib.OpenDB(*cfg)
		// Bounded, so that several servers stay within the server's max_connections
		// (100 by default), and kept open, so that a burst of uploads does not reconnect.
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return db, dialectPostgres, nil
	default:
		scheme, _, _ := strings.Cut(dsn, ":")
		return nil, "", fmt.Errorf("dsn scheme %q: want sqlite: or postgres://: %w", url.PathEscape(scheme), ErrInvalid)
	}
}

// Settings that the PostgreSQL row-level security policies read. Each is set with
// set_config(..., true), so it lasts until the end of the transaction.
const (
	settingTenant = "app.tenant_id"     // the tenant whose rows the transaction may see and write
	settingLookup = "app.tenant_lookup" // "on": the finders may read across tenants
)

// declare sets a row-level security setting for the rest of tx. SQLite has no row-level
// security, so there it does nothing.
func (s *Store) declare(ctx context.Context, tx *sql.Tx, setting, value string) error {
	if s.dialect != dialectPostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config($1, $2, true)`, setting, value); err != nil {
		return fmt.Errorf("set %s: %w", setting, err)
	}
	return nil
}

// tenantTables are the tables whose rows carry tenant_id; tenants itself is keyed by id.
var tenantTables = []string{"users", "tokens", "sessions", "recordings", "tracks", "segments"}

// lookupTables are the tables the finders read across tenants.
var lookupTables = []string{"tenants", "users", "tokens", "sessions"}

// rowLevelSecurity returns the PostgreSQL statements of migration 2. FORCE makes the
// policies bind the tables' owner as well, which is the role the server connects as
// unless the deployment separates the two.
func rowLevelSecurity() []string {
	policy := func(table, column string) []string {
		cond := column + ` = current_setting('` + settingTenant + `', true)`
		return []string{
			`ALTER TABLE ` + table + ` ENABLE ROW LEVEL SECURITY`,
			`ALTER TABLE ` + table + ` FORCE ROW LEVEL SECURITY`,
			`CREATE POLICY tenant_isolation ON ` + table + ` USING (` + cond + `) WITH CHECK (` + cond + `)`,
		}
	}
	stmts := policy("tenants", "id")
	for _, t := range tenantTables {
		stmts = append(stmts, policy(t, "tenant_id")...)
	}
	for _, t := range lookupTables {
		stmts = append(stmts, `CREATE POLICY tenant_lookup ON `+t+
			` FOR SELECT USING (current_setting('`+settingLookup+`', true) = 'on')`)
	}
	return stmts
}

// rowLevelSecurityDown undoes rowLevelSecurity.
func rowLevelSecurityDown() []string {
	var stmts []string
	for _, t := range lookupTables {
		stmts = append(stmts, `DROP POLICY tenant_lookup ON `+t)
	}
	for _, t := range append([]string{"tenants"}, tenantTables...) {
		stmts = append(stmts,
			`DROP POLICY tenant_isolation ON `+t,
			`ALTER TABLE `+t+` NO FORCE ROW LEVEL SECURITY`,
			`ALTER TABLE `+t+` DISABLE ROW LEVEL SECURITY`)
	}
	return stmts
}

// isForeignKeyViolation reports whether err is a reference to a missing parent row.
func isForeignKeyViolation(err error) bool {
	var le *sqlite.Error
	if errors.As(err, &le) {
		return le.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503" // foreign_key_violation
	}
	return false
}
