package audit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aulacapture/aula/internal/pgtest"
	"github.com/aulacapture/aula/server/store"
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

var testKey = []byte("audit package tests' chain key..")

// chainDB is a store with one tenant's chain of n events, and a raw connection to the
// same database to damage it with.
type chainDB struct {
	st     *store.Store
	raw    *sql.DB
	tenant string
	ids    []string // ids[i] is the event of seq i+1
	pg     bool
}

func newChainDB(t *testing.T, dialect string, n int) *chainDB {
	t.Helper()
	ctx := context.Background()
	var dsn, driver, rawDSN string
	if dialect == "sqlite" {
		path := filepath.Join(t.TempDir(), "aula.db")
		dsn, driver, rawDSN = "sqlite:"+path, "sqlite", path
	} else {
		dsn = pgtest.Start(t)
		driver, rawDSN = "pgx", dsn
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetAuditMAC(MAC(testKey))
	tn, err := st.CreateTenant(ctx, store.Tenant{Name: "uni"})
	if err != nil {
		t.Fatal(err)
	}
	c := &chainDB{st: st, tenant: tn.ID, pg: dialect == "postgres"}
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for i := range n {
		e, err := st.AppendAudit(ctx, store.AuditEvent{TenantID: tn.ID, At: t0.Add(time.Duration(i) * time.Minute),
			Action: "signin", Actor: fmt.Sprintf("user%d@example.org", i), Detail: fmt.Sprintf("event %d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		c.ids = append(c.ids, e.ID)
	}
	if c.raw, err = sql.Open(driver, rawDSN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.raw.Close() })
	return c
}

// exec runs statements as the tenant (PostgreSQL's row-level security binds the test
// role too), as an attacker with the database's password could.
func (c *chainDB) exec(t *testing.T, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := c.raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if c.pg {
		if _, err := tx.ExecContext(ctx, `SELECT set_config('app.tenant_id', $1, true)`, c.tenant); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, strings.ReplaceAll(q, "TENANT", "'"+c.tenant+"'")); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyDetects damages a chain of six events in each way and checks that Verify
// names the first damaged event and what happened to it.
func TestVerifyDetects(t *testing.T) {
	const where = ` WHERE tenant_id = TENANT AND seq = `
	insert := `INSERT INTO audit_events (tenant_id, id, seq, at, action, actor, user_id, ip, request_id, object, result, detail, mac)
		VALUES (TENANT, 'forged', %d, 1, 'signin', 'eve', '', '', '', '', '', 'forged', %s)`
	for _, c := range []struct {
		name    string
		damage  []string
		key     []byte
		kind    string
		seq     int64
		id      int // index into ids of the event named, or -1 for none
		message string
	}{
		{name: "intact"},
		{name: "edited", damage: []string{`UPDATE audit_events SET detail = 'nothing happened'` + where + `3`},
			kind: Edited, seq: 3, id: 2, message: "next event still follows"},
		{name: "edited actor", damage: []string{`UPDATE audit_events SET actor = 'someone@else'` + where + `1`},
			kind: Edited, seq: 1, id: 0},
		{name: "edited last", damage: []string{`UPDATE audit_events SET detail = 'x'` + where + `6`},
			kind: Edited, seq: 6, id: 5, message: "head still records"},
		{name: "removed", damage: []string{`DELETE FROM audit_events` + where + `3`},
			kind: Removed, seq: 3, id: 3, message: "Event 3 was removed"},
		{name: "two removed", damage: []string{`DELETE FROM audit_events WHERE tenant_id = TENANT AND seq IN (2, 3)`},
			kind: Removed, seq: 2, id: 3, message: "Events 2 to 3 were removed"},
		{name: "removed last", damage: []string{`DELETE FROM audit_events` + where + `6`},
			kind: Removed, seq: 6, id: -1, message: "from the end"},
		{name: "swapped", damage: []string{
			`UPDATE audit_events SET seq = -1` + where + `3`,
			`UPDATE audit_events SET seq = 3` + where + `4`,
			`UPDATE audit_events SET seq = 4` + where + `-1`},
			kind: Reordered, seq: 3, id: 3, message: "swapped"},
		{name: "moved", damage: []string{
			`UPDATE audit_events SET seq = -1` + where + `2`,
			`UPDATE audit_events SET seq = 2` + where + `5`,
			`UPDATE audit_events SET seq = 5` + where + `-1`},
			kind: Reordered, seq: 2, id: 4},
		{name: "inserted at the end", damage: []string{fmt.Sprintf(insert, 7, "NULL")},
			kind: Inserted, seq: 7, id: -1},
		{name: "inserted at the end with a MAC", damage: []string{fmt.Sprintf(insert, 7, `'\x0102'`)},
			kind: Inserted, seq: 7, id: -1, message: "after the chain's head"},
		{name: "inserted without seq", damage: []string{fmt.Sprintf(insert, 0, "NULL")},
			kind: Inserted, seq: 0, id: -1},
		{name: "inserted in the middle", damage: []string{
			`UPDATE audit_events SET seq = -seq WHERE tenant_id = TENANT AND seq >= 3`,
			`UPDATE audit_events SET seq = 1 - seq WHERE tenant_id = TENANT AND seq < 0`,
			fmt.Sprintf(insert, 3, `'\x0102'`)},
			kind: Inserted, seq: 3, id: -1, message: "written as 3 and now numbered 4"},
		{name: "wrong key", key: []byte("another key"), kind: Edited, seq: 1, id: 0, message: "or the key"},
	} {
		for _, dialect := range []string{"sqlite", "postgres"} {
			t.Run(c.name+"/"+dialect, func(t *testing.T) {
				t.Parallel()
				db := newChainDB(t, dialect, 6)
				blob := `x'0102'`
				if db.pg {
					blob = `'\x0102'::bytea`
				}
				var damage []string
				for _, q := range c.damage {
					damage = append(damage, strings.ReplaceAll(q, `'\x0102'`, blob))
				}
				if len(damage) > 0 {
					db.exec(t, damage...)
				}
				key := testKey
				if c.key != nil {
					key = c.key
				}
				rep, err := Verify(context.Background(), db.st, db.tenant, MAC(key))
				if err != nil {
					t.Fatal(err)
				}
				if c.kind == "" {
					if !rep.OK() || rep.Events != 6 || rep.Head != 6 {
						t.Fatalf("intact chain: %+v %+v", rep, rep.Problem)
					}
					return
				}
				p := rep.Problem
				if p == nil {
					t.Fatalf("damage not found: %+v", rep)
				}
				t.Log(p.Message)
				if p.Kind != c.kind || p.Seq != c.seq {
					t.Errorf("found %s at seq %d, want %s at %d: %s", p.Kind, p.Seq, c.kind, c.seq, p.Message)
				}
				wantID := ""
				if c.id >= 0 {
					wantID = db.ids[c.id]
				} else if c.kind == Inserted {
					wantID = "forged"
				}
				if p.ID != wantID {
					t.Errorf("names id %q, want %q", p.ID, wantID)
				}
				if !strings.Contains(p.Message, c.message) || !strings.HasSuffix(p.Message, ".") {
					t.Errorf("message %q, want it to say %q", p.Message, c.message)
				}
			})
		}
	}
}

// TestVerifyLegacy: events from before the chain are not damage until the tenant's
// first chained event, which chains them.
func TestVerifyLegacy(t *testing.T) {
	db := newChainDB(t, "sqlite", 0)
	db.exec(t, `INSERT INTO audit_events (tenant_id, id, at, action, actor, user_id, ip, detail)
		VALUES (TENANT, 'old', 1, 'signin', '', '', '', '')`)
	ctx := context.Background()
	rep, err := Verify(ctx, db.st, db.tenant, MAC(testKey))
	if err != nil || !rep.OK() || rep.Unchained != 1 {
		t.Fatalf("before the first append: %+v, %v", rep, err)
	}
	if _, err := db.st.AppendAudit(ctx, store.AuditEvent{TenantID: db.tenant, Action: "x"}); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(ctx, db.st, db.tenant, MAC(testKey))
	if err != nil || !rep.OK() || rep.Events != 2 || rep.Unchained != 0 {
		t.Fatalf("after: %+v %+v, %v", rep, rep.Problem, err)
	}
}
