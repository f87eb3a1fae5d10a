package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// TestStreamFile: every appended event reaches the file as a JSON line once its
// transaction committed, appended after what the file held, with mode 0600.
func TestStreamFile(t *testing.T) {
	db := newChainDB(t, "sqlite", 0)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte("{\"earlier\":true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStream(StreamOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	db.st.OnAudit(s.Observe)
	ctx := store.WithRequestID(context.Background(), "req-7")
	var appended []store.AuditEvent
	for _, action := range []string{"signin.failed", "signin"} {
		e, err := db.st.AppendAudit(ctx, store.AuditEvent{TenantID: db.tenant, Action: action, Actor: "ann@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		appended = append(appended, e)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Observe(appended[0]) // after Close: ignored, no panic
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 || lines[0] != `{"earlier":true}` {
		t.Fatalf("file:\n%s", data)
	}
	for i, line := range lines[1:] {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		e := appended[i]
		if r.ID != e.ID || r.Seq != e.Seq || r.Action != e.Action || r.RequestID != "req-7" || r.MAC != hex.EncodeToString(e.MAC) || !r.Time.Equal(e.At) {
			t.Errorf("line %d = %+v, want %+v", i, r, e)
		}
	}
	if runtime.GOOS != "windows" {
		if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", info.Mode())
		}
		fresh := filepath.Join(t.TempDir(), "new.jsonl")
		s, err := OpenStream(StreamOptions{File: fresh})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if info, _ := os.Stat(fresh); info.Mode().Perm() != 0o600 {
			t.Errorf("new file's mode %v", info.Mode())
		}
	}
}

// TestStreamDoesNotBlock: a full queue drops copies rather than wait.
func TestStreamDoesNotBlock(t *testing.T) {
	s := &Stream{log: slog.New(slog.DiscardHandler), ch: make(chan store.AuditEvent, 1), done: make(chan struct{})}
	finished := make(chan struct{})
	go func() {
		for range 10 {
			s.Observe(store.AuditEvent{Action: "x"})
		}
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("Observe blocked on a full queue")
	}
	if s.dropped != 9 {
		t.Errorf("dropped %d, want 9", s.dropped)
	}
}

func TestExport(t *testing.T) {
	db := newChainDB(t, "sqlite", 5)
	var b bytes.Buffer
	since := time.Date(2026, 11, 2, 8, 2, 0, 0, time.UTC) // events are a minute apart from 08:00
	n, err := Export(context.Background(), db.st, db.tenant, since, &b)
	if err != nil || n != 3 {
		t.Fatalf("exported %d, %v", n, err)
	}
	sc := bufio.NewScanner(&b)
	var seqs []int64
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, r.Seq)
	}
	if len(seqs) != 3 || seqs[0] != 3 || seqs[2] != 5 {
		t.Errorf("seqs %v", seqs)
	}
}
