package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aulacapture/aula/server/audit"
)

// run runs one command with DIR as its data directory and no environment.
func run(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errw bytes.Buffer
	env := Env{Args: append(args, "--data", dir), Stdout: &out, Stderr: &errw, Getenv: func(string) string { return "" }}
	err = Run(context.Background(), env)
	return out.String(), errw.String(), err
}

func TestAuditVerifyAndExport(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"admin", "create", "--tenant", "uni", "--email", "admin@example.org"},
		{"user", "lock", "--email", "admin@example.org"},
		{"user", "unlock", "--email", "admin@example.org"},
		{"admin", "create", "--tenant", "other", "--email", "admin@example.org"},
	} {
		if _, stderr, err := run(t, dir, args...); err != nil {
			if args[0] == "user" && strings.Contains(stderr, "--tenant") {
				args = append(args, "--tenant", "uni")
				_, stderr, err = run(t, dir, args...)
			}
			if err != nil {
				t.Fatalf("%v: %v\n%s", args, err, stderr)
			}
		}
	}
	out, _, err := run(t, dir, "audit", "verify")
	if err != nil || !strings.Contains(out, `tenant "uni": 3 events, chain intact.`) || !strings.Contains(out, `tenant "other": 1 events, chain intact.`) {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	out, stderr, err := run(t, dir, "audit", "export", "--tenant", "uni", "--since", "2000-01-01T00:00:00Z")
	if err != nil {
		t.Fatalf("export: %v %s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first audit.Record
	if len(lines) != 3 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Seq != 1 || first.Action != "account.created" || first.MAC == "" {
		t.Fatalf("export:\n%s", out)
	}
	if out, _, _ := run(t, dir, "audit", "export", "--tenant", "uni", "--since", "2999-01-01T00:00:00Z"); out != "" {
		t.Errorf("export since the future: %s", out)
	}
	if _, _, err := run(t, dir, "audit", "export", "--tenant", "uni", "--since", "yesterday"); !errors.Is(err, ErrUsage) {
		t.Errorf("bad --since: %v", err)
	}

	// Someone with the database's file rewrites what the lock was about.
	db, err := sql.Open("sqlite", filepath.Join(dir, "aula.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_events SET detail = 'routine check' WHERE seq = 2 AND action = 'account.locked'`); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, dir, "audit", "verify", "--tenant", "uni")
	if !errors.Is(err, errChainDamaged) || ExitCode(err) == 0 {
		t.Errorf("verify after an edit: err %v", err)
	}
	if !strings.Contains(out, `tenant "uni": DAMAGED: Event 2 (id `) || !strings.Contains(out, "was edited") {
		t.Errorf("verify after an edit:\n%s", out)
	}
	if _, _, err := run(t, dir, "audit", "verify", "--tenant", "other"); err != nil {
		t.Errorf("the other tenant: %v", err)
	}
}
