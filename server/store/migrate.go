package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration 2 adds PostgreSQL's row-level security; it is Go because SQLite has no such
// statements, and it records the version on SQLite too so both schemas count alike.
const rlsVersion = 2

// pgMigration is a Go migration of statements that only PostgreSQL runs (row-level
// security); on SQLite it only records its version, so both schemas count alike.
type pgMigration struct {
	version  int64
	up, down func() []string
}

var pgMigrations = map[int64]pgMigration{}

// registerPostgresMigration adds a PostgreSQL-only migration; each feature's file calls it
// from init, so features add migrations without sharing a file.
func registerPostgresMigration(version int64, up, down func() []string) {
	if _, dup := pgMigrations[version]; dup {
		panic(fmt.Sprintf("store: migration %d registered twice", version))
	}
	pgMigrations[version] = pgMigration{version, up, down}
}

func init() {
	registerPostgresMigration(rlsVersion, rowLevelSecurity, rowLevelSecurityDown)
}

// registerIsolation adds a PostgreSQL-only migration that puts tables (each with a
// tenant_id column) under the tenant_isolation policy: a transaction sees and writes
// only the rows of the tenant it declared. The lookup tables also get the tenant_lookup
// policy, for the finders that read across tenants (by a hash, a client ID).
func registerIsolation(version int64, lookup []string, tables ...string) {
	cond := `tenant_id = current_setting('` + settingTenant + `', true)`
	up := func() []string {
		var stmts []string
		for _, t := range tables {
			stmts = append(stmts,
				`ALTER TABLE `+t+` ENABLE ROW LEVEL SECURITY`,
				`ALTER TABLE `+t+` FORCE ROW LEVEL SECURITY`,
				`CREATE POLICY tenant_isolation ON `+t+` USING (`+cond+`) WITH CHECK (`+cond+`)`)
		}
		for _, t := range lookup {
			stmts = append(stmts, `CREATE POLICY tenant_lookup ON `+t+` FOR SELECT USING (current_setting('`+settingLookup+`', true) = 'on')`)
		}
		return stmts
	}
	down := func() []string {
		var stmts []string
		for _, t := range lookup {
			stmts = append(stmts, `DROP POLICY tenant_lookup ON `+t)
		}
		for _, t := range tables {
			stmts = append(stmts,
				`DROP POLICY tenant_isolation ON `+t,
				`ALTER TABLE `+t+` NO FORCE ROW LEVEL SECURITY`,
				`ALTER TABLE `+t+` DISABLE ROW LEVEL SECURITY`)
		}
		return stmts
	}
	registerPostgresMigration(version, up, down)
}

func postgresMigrations() []pgMigration {
	out := make([]pgMigration, 0, len(pgMigrations))
	for _, m := range pgMigrations {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out
}

// SchemaVersion is the newest migration: the highest of the SQL files and the Go ones.
func SchemaVersion() int64 {
	v := int64(0)
	for _, m := range pgMigrations {
		v = max(v, m.version)
	}
	entries, _ := fs.ReadDir(migrationFiles, "migrations")
	for _, e := range entries {
		var n int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &n); err == nil {
			v = max(v, n)
		}
	}
	return v
}

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
	}
	for _, m := range postgresMigrations() {
		opts = append(opts, goose.WithGoMigrations(goose.NewGoMigration(m.version,
			&goose.GoFunc{RunTx: run(m.up)}, &goose.GoFunc{RunTx: run(m.down)})))
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
