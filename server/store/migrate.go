package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration 2 adds PostgreSQL's row-level security; it is Go because SQLite has no such
// statements, and it records the version on SQLite too so both schemas count alike.
const rlsVersion = 2

// migrate brings the schema up to date. On PostgreSQL an advisory lock lets several
// servers start at once against one database.
func migrate(ctx context.Context, db *sql.DB, dialect string) error {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	run := func(stmts func() []string) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			if dialect != dialectPostgres {
				return nil
			}
			for _, q := range stmts() {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
			return nil
		}
	}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
		goose.WithGoMigrations(goose.NewGoMigration(rlsVersion,
			&goose.GoFunc{RunTx: run(rowLevelSecurity)},
			&goose.GoFunc{RunTx: run(rowLevelSecurityDown)}),
			goose.NewGoMigration(accountsVersion,
				&goose.GoFunc{RunTx: run(accountsRowLevelSecurity)},
				&goose.GoFunc{RunTx: run(accountsRowLevelSecurityDown)})),
	}
	gd := goose.DialectSQLite3
	if dialect == dialectPostgres {
		gd = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, files, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", dialect, err)
	}
	return nil
}
