package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSchedule: entries are validated, refuse to overlap in one room, list by folder
// and by room within a window, and go with their folder.
func TestSchedule(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, b := tenant(t, s, "a"), tenant(t, s, "b")
		f := must[Folder](t)(s.CreateFolder(ctx, Folder{TenantID: a.ID, ParentID: a.ID, Name: "Physics"}))
		t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		entry := func(room string, start, end time.Time) ScheduleEntry {
			return ScheduleEntry{TenantID: a.ID, FolderID: f.ID, Room: room, Title: "Lecture", StartsAt: start, EndsAt: end, CreatedBy: "user:u"}
		}
		e1 := must[ScheduleEntry](t)(s.CreateScheduleEntry(ctx, entry("Hall", t0, t0.Add(time.Hour))))
		if e1.ID == "" || !e1.StartsAt.Equal(t0) || e1.UpdatedAt.IsZero() {
			t.Errorf("created %+v", e1)
		}
		for name, c := range map[string]struct {
			e    ScheduleEntry
			want error
		}{
			"overlap":        {entry("Hall", t0.Add(30*time.Minute), t0.Add(2*time.Hour)), ErrConflict},
			"inside":         {entry("Hall", t0.Add(10*time.Minute), t0.Add(20*time.Minute)), ErrConflict},
			"end before":     {entry("Hall", t0.Add(3*time.Hour), t0.Add(2*time.Hour)), ErrInvalid},
			"empty":          {entry("Hall", t0.Add(3*time.Hour), t0.Add(3*time.Hour)), ErrInvalid},
			"too long":       {entry("Hall", t0.Add(3*time.Hour), t0.Add(28*time.Hour)), ErrInvalid},
			"no room":        {entry(" ", t0.Add(3*time.Hour), t0.Add(4*time.Hour)), ErrInvalid},
			"unknown folder": {ScheduleEntry{TenantID: a.ID, FolderID: "nope", Room: "Hall", Title: "x", StartsAt: t0.Add(5 * time.Hour), EndsAt: t0.Add(6 * time.Hour)}, ErrNotFound},
			"other tenant":   {ScheduleEntry{TenantID: b.ID, FolderID: f.ID, Room: "Hall", Title: "x", StartsAt: t0.Add(5 * time.Hour), EndsAt: t0.Add(6 * time.Hour)}, ErrNotFound},
		} {
			if _, err := s.CreateScheduleEntry(ctx, c.e); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", name, err, c.want)
			}
		}
		for _, title := range []string{strings.Repeat("é", MaxScheduleTitle+1), " ", "a\nb"} {
			bad := entry("Hall", t0.Add(5*time.Hour), t0.Add(6*time.Hour))
			bad.Title = title
			if _, err := s.CreateScheduleEntry(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("title %q: %v", title, err)
			}
		}
		// Back to back is no overlap; another room may record at the same time.
		e2 := must[ScheduleEntry](t)(s.CreateScheduleEntry(ctx, entry("Hall", t0.Add(time.Hour), t0.Add(2*time.Hour))))
		e3 := must[ScheduleEntry](t)(s.CreateScheduleEntry(ctx, entry("Lab", t0, t0.Add(time.Hour))))
		ids := func(es []ScheduleEntry) (out []string) {
			for _, e := range es {
				out = append(out, e.ID)
			}
			return out
		}
		hall := must[[]ScheduleEntry](t)(s.RoomSchedule(ctx, a.ID, "Hall", t0.Add(-time.Hour), t0.Add(time.Hour+time.Minute)))
		if got := strings.Join(ids(hall), " "); got != e1.ID+" "+e2.ID {
			t.Errorf("Hall's schedule %v", got)
		}
		late := must[[]ScheduleEntry](t)(s.RoomSchedule(ctx, a.ID, "Hall", t0.Add(time.Hour), t0.Add(time.Hour+time.Minute)))
		if got := strings.Join(ids(late), " "); got != e2.ID {
			t.Errorf("Hall's schedule from the end of the first entry: %v", got)
		}
		all := must[[]ScheduleEntry](t)(s.FolderSchedule(ctx, a.ID, f.ID, t0, t0.Add(24*time.Hour)))
		if len(all) != 3 {
			t.Errorf("folder schedule %v, want 3 entries", ids(all))
		}
		if got := must[[]ScheduleEntry](t)(s.RoomSchedule(ctx, b.ID, "Hall", t0, t0.Add(24*time.Hour))); len(got) != 0 {
			t.Errorf("tenant b sees a's schedule: %v", ids(got))
		}
		if _, err := s.DeleteScheduleEntry(ctx, b.ID, f.ID, e1.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("b deletes a's entry: %v", err)
		}
		if _, err := s.DeleteScheduleEntry(ctx, a.ID, a.ID, e1.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete from the wrong folder: %v", err)
		}
		if got := must[ScheduleEntry](t)(s.DeleteScheduleEntry(ctx, a.ID, f.ID, e1.ID)); got.ID != e1.ID {
			t.Errorf("deleted %+v", got)
		}
		check(t, s.DeleteFolder(ctx, a.ID, f.ID))
		if got := must[[]ScheduleEntry](t)(s.RoomSchedule(ctx, a.ID, "Lab", t0, t0.Add(24*time.Hour))); len(got) != 0 {
			t.Errorf("entries outlive their folder: %v (%s)", ids(got), e3.ID)
		}
	})
}

// TestAgentStates: one row per agent, replaced by each report, listed with its room.
func TestAgentStates(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		must[Enrollment](t)(s.CreateEnrollment(ctx, Enrollment{TenantID: a.ID, Room: "Hall", CodeHash: []byte("code"), ExpiresAt: t0.Add(time.Hour)}))
		c := must[OAuthClient](t)(s.RedeemEnrollment(ctx, []byte("code"), []byte("secret"), t0))
		level := -23.5
		prev := must[string](t)(s.PutAgentState(ctx, AgentState{TenantID: a.ID, ClientID: c.ID, State: AgentCapturing, QueueSegments: 3,
			QueueBytes: 1 << 20, FreeBytes: 1 << 40, AudioLevel: &level, ReportedAt: t0}))
		if prev != "" {
			t.Errorf("first report replaces %q", prev)
		}
		prev = must[string](t)(s.PutAgentState(ctx, AgentState{TenantID: a.ID, ClientID: c.ID, State: AgentError, LastError: "camera gone", ReportedAt: t0.Add(time.Minute)}))
		if prev != AgentCapturing {
			t.Errorf("second report replaces %q, want capturing", prev)
		}
		states := must[[]AgentState](t)(s.AgentStates(ctx, a.ID))
		if len(states) != 1 {
			t.Fatalf("%d states, want 1", len(states))
		}
		if st := states[0]; st.Room != "Hall" || st.State != AgentError || st.LastError != "camera gone" || st.QueueSegments != 0 ||
			st.AudioLevel != nil || !st.ReportedAt.Equal(t0.Add(time.Minute)) || st.Revoked {
			t.Errorf("state %+v", st)
		}
		bad := -300.0
		for name, st := range map[string]AgentState{
			"state":      {State: "sleeping"},
			"queue":      {State: AgentIdle, QueueSegments: -1},
			"bytes":      {State: AgentIdle, FreeBytes: 1 << 60},
			"level":      {State: AgentIdle, AudioLevel: &bad},
			"last_error": {State: AgentIdle, LastError: strings.Repeat("x", MaxAgentError+1)},
		} {
			st.TenantID, st.ClientID = a.ID, c.ID
			if _, err := s.PutAgentState(ctx, st); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if _, err := s.PutAgentState(ctx, AgentState{TenantID: a.ID, ClientID: "agent-nope", State: AgentIdle}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown agent: %v", err)
		}
	})
}

// TestScheduleRowLevelSecurity: on PostgreSQL a query of migration 17's tables with the
// wrong tenant set, or none, returns no rows.
func TestScheduleRowLevelSecurity(t *testing.T) {
	s := openStore(t, newDSN(t, dialectPostgres))
	ctx := context.Background()
	a, b := tenant(t, s, "a"), tenant(t, s, "b")
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i, tn := range []Tenant{a, b} {
		f := must[Folder](t)(s.CreateFolder(ctx, Folder{TenantID: tn.ID, ParentID: tn.ID, Name: "Physics"}))
		must[ScheduleEntry](t)(s.CreateScheduleEntry(ctx, ScheduleEntry{TenantID: tn.ID, FolderID: f.ID, Room: "Hall", Title: "Lecture", StartsAt: t0, EndsAt: t0.Add(time.Hour)}))
		code := []byte{'c', byte(i)}
		must[Enrollment](t)(s.CreateEnrollment(ctx, Enrollment{TenantID: tn.ID, Room: "Hall", CodeHash: code, ExpiresAt: t0.Add(time.Hour)}))
		c := must[OAuthClient](t)(s.RedeemEnrollment(ctx, code, []byte{'s', byte(i)}, t0))
		must[string](t)(s.PutAgentState(ctx, AgentState{TenantID: tn.ID, ClientID: c.ID, State: AgentIdle}))
	}
	count := func(setting, value, table string) (n int) {
		t.Helper()
		check(t, s.tx(ctx, false, func(tx *sql.Tx) error {
			if setting != "" {
				if err := s.declare(ctx, tx, setting, value); err != nil {
					return err
				}
			}
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, b.ID).Scan(&n)
		}))
		return n
	}
	for _, table := range scheduleTables {
		if n := count("", "", table); n != 0 {
			t.Errorf("no tenant set: %d of b's rows of %s visible", n, table)
		}
		if n := count(settingTenant, a.ID, table); n != 0 {
			t.Errorf("tenant a set: %d of b's rows of %s visible", n, table)
		}
		if n := count(settingTenant, b.ID, table); n == 0 {
			t.Errorf("tenant b set: none of b's rows of %s visible", table)
		}
	}
}
