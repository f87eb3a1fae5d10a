package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// scheduleVersion is the Go migration that puts migration 17's tables under row-level
// security on PostgreSQL.
const scheduleVersion = 18

func init() {
	registerIsolation(scheduleVersion, nil, scheduleTables...)
}

// scheduleTables are migration 17's tables; each carries tenant_id.
var scheduleTables = []string{"schedule_entries", "agent_states"}

// ScheduleEntry is a recording planned in a room: from StartsAt to EndsAt the room's
// agent records into FolderID.
type ScheduleEntry struct {
	TenantID  string
	ID        string
	FolderID  string
	Room      string
	Title     string
	StartsAt  time.Time
	EndsAt    time.Time
	CreatedBy string // "user:ID", as recordings' CreatedBy
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Limits of schedule entries.
const (
	// MaxScheduleTitle bounds an entry's title, in characters.
	MaxScheduleTitle = 200
	// MaxScheduleDuration bounds an entry's length.
	MaxScheduleDuration = 24 * time.Hour
	// MaxRoomName bounds a room's name, in characters.
	MaxRoomName = 200
)

const scheduleColumns = `tenant_id, id, folder_id, room, title, starts_at, ends_at, created_by, created_at, updated_at`

// CheckScheduleEntry says what is wrong with an entry, in a sentence, or nil.
func CheckScheduleEntry(e ScheduleEntry) error {
	switch {
	case strings.TrimSpace(e.Room) == "":
		return fmt.Errorf("a schedule entry names its room: %w", ErrInvalid)
	case !utf8.ValidString(e.Room) || utf8.RuneCountInString(e.Room) > MaxRoomName:
		return fmt.Errorf("a room name has at most %d characters: %w", MaxRoomName, ErrInvalid)
	case strings.TrimSpace(e.Title) == "":
		return fmt.Errorf("a schedule entry needs a title: %w", ErrInvalid)
	case !utf8.ValidString(e.Title) || utf8.RuneCountInString(e.Title) > MaxScheduleTitle:
		return fmt.Errorf("a schedule entry's title has at most %d characters: %w", MaxScheduleTitle, ErrInvalid)
	case strings.ContainsFunc(e.Title+e.Room, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("a schedule entry's title and room may not contain control characters: %w", ErrInvalid)
	case e.StartsAt.IsZero() || e.EndsAt.IsZero():
		return fmt.Errorf("a schedule entry needs a start and an end: %w", ErrInvalid)
	case !e.EndsAt.After(e.StartsAt):
		return fmt.Errorf("a schedule entry ends after it starts: %w", ErrInvalid)
	case e.EndsAt.Sub(e.StartsAt) > MaxScheduleDuration:
		return fmt.Errorf("a schedule entry lasts at most %s: %w", "24 hours", ErrInvalid)
	}
	return checkTimes(e.StartsAt, e.EndsAt)
}

// CreateScheduleEntry stores e; an empty ID gets a new UUIDv7. An entry that overlaps
// another of the same room answers ErrConflict, naming it; an unknown folder
// ErrNotFound. The store does not check that the room is bound to the folder: the
// caller, which knows the folder tree, does.
func (s *Store) CreateScheduleEntry(ctx context.Context, e ScheduleEntry) (ScheduleEntry, error) {
	if err := CheckScheduleEntry(e); err != nil {
		return ScheduleEntry{}, err
	}
	if e.ID == "" {
		id, err := newID()
		if err != nil {
			return ScheduleEntry{}, err
		}
		e.ID = id
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.CreatedAt
	}
	e.Title = strings.TrimSpace(e.Title)
	e.StartsAt, e.EndsAt = roundTrip(e.StartsAt), roundTrip(e.EndsAt)
	e.CreatedAt, e.UpdatedAt = roundTrip(e.CreatedAt), roundTrip(e.UpdatedAt)
	err := s.write(ctx, e.TenantID, func(q querier) error {
		if s.dialect == dialectPostgres {
			// Read committed lets two transactions both miss each other's entry; one
			// lock per room makes the check and the insert one step. SQLite's
			// transactions already run one at a time (BEGIN IMMEDIATE).
			if _, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
				"schedule|"+e.TenantID+"|"+e.Room); err != nil {
				return fmt.Errorf("lock room schedule: %w", err)
			}
		}
		var one int
		if err := q.QueryRowContext(ctx, `SELECT 1 FROM folders WHERE tenant_id = $1 AND id = $2`, e.TenantID, e.FolderID).Scan(&one); err != nil {
			return notFound(err, "folder %q", e.FolderID)
		}
		clash, err := scanScheduleEntry(q.QueryRowContext(ctx, `SELECT `+scheduleColumns+` FROM schedule_entries
			WHERE tenant_id = $1 AND room = $2 AND starts_at < $4 AND ends_at > $3
			ORDER BY starts_at LIMIT 1`, e.TenantID, e.Room, nanos(e.StartsAt), nanos(e.EndsAt)))
		switch {
		case err == nil:
			return fmt.Errorf("room %s is already scheduled from %s to %s (%q): %w", e.Room,
				clash.StartsAt.Format(time.RFC3339), clash.EndsAt.Format(time.RFC3339), clash.Title, ErrConflict)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("check schedule: %w", err)
		}
		_, err = q.ExecContext(ctx, `INSERT INTO schedule_entries (`+scheduleColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.TenantID, e.ID, e.FolderID, e.Room, e.Title, nanos(e.StartsAt), nanos(e.EndsAt), e.CreatedBy, nanos(e.CreatedAt), nanos(e.UpdatedAt))
		switch {
		case isUniqueViolation(err):
			return fmt.Errorf("schedule entry %q: %w", e.ID, ErrExists)
		case isForeignKeyViolation(err):
			return fmt.Errorf("folder %q: %w", e.FolderID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("create schedule entry: %w", err)
		}
		return nil
	})
	if err != nil {
		return ScheduleEntry{}, err
	}
	return e, nil
}

// DeleteScheduleEntry deletes the entry if it is in folderID, and returns it.
func (s *Store) DeleteScheduleEntry(ctx context.Context, tenantID, folderID, id string) (ScheduleEntry, error) {
	var e ScheduleEntry
	err := s.write(ctx, tenantID, func(q querier) error {
		var err error
		e, err = scanScheduleEntry(q.QueryRowContext(ctx, `SELECT `+scheduleColumns+` FROM schedule_entries
			WHERE tenant_id = $1 AND folder_id = $2 AND id = $3`, tenantID, folderID, id))
		if err != nil {
			return notFound(err, "schedule entry %q", id)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM schedule_entries WHERE tenant_id = $1 AND id = $2`, tenantID, id); err != nil {
			return fmt.Errorf("delete schedule entry: %w", err)
		}
		return nil
	})
	return e, err
}

// FolderSchedule lists the folder's entries that overlap [from, to), by start.
func (s *Store) FolderSchedule(ctx context.Context, tenantID, folderID string, from, to time.Time) ([]ScheduleEntry, error) {
	return s.querySchedule(ctx, tenantID, `SELECT `+scheduleColumns+` FROM schedule_entries
		WHERE tenant_id = $1 AND folder_id = $2 AND starts_at < $4 AND ends_at > $3
		ORDER BY starts_at, id`, tenantID, folderID, nanos(from), nanos(to))
}

// RoomSchedule lists the room's entries that overlap [from, to), by start, in every
// folder.
func (s *Store) RoomSchedule(ctx context.Context, tenantID, room string, from, to time.Time) ([]ScheduleEntry, error) {
	return s.querySchedule(ctx, tenantID, `SELECT `+scheduleColumns+` FROM schedule_entries
		WHERE tenant_id = $1 AND room = $2 AND starts_at < $4 AND ends_at > $3
		ORDER BY starts_at, id`, tenantID, room, nanos(from), nanos(to))
}

func (s *Store) querySchedule(ctx context.Context, tenantID, query string, args ...any) ([]ScheduleEntry, error) {
	var out []ScheduleEntry
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("list schedule: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanScheduleEntry(rows)
			if err != nil {
				return fmt.Errorf("list schedule: %w", err)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

func scanScheduleEntry(r scanner) (ScheduleEntry, error) {
	var (
		e                                ScheduleEntry
		starts, ends, created, updatedAt int64
	)
	if err := r.Scan(&e.TenantID, &e.ID, &e.FolderID, &e.Room, &e.Title, &starts, &ends, &e.CreatedBy, &created, &updatedAt); err != nil {
		return ScheduleEntry{}, err
	}
	e.StartsAt, e.EndsAt, e.CreatedAt, e.UpdatedAt = fromNanos(starts), fromNanos(ends), fromNanos(created), fromNanos(updatedAt)
	return e, nil
}

// Agent states.
const (
	AgentIdle      = "idle"
	AgentCapturing = "capturing"
	AgentUploading = "uploading"
	AgentError     = "error"
)

// AgentState is the last state an agent reported.
type AgentState struct {
	TenantID string
	ClientID string
	// Room is the agent's room, filled in by AgentStates.
	Room string
	// Revoked is whether the agent's credential has been revoked, filled in by
	// AgentStates.
	Revoked       bool
	State         string
	RecordingID   string // "" when it records nothing
	QueueSegments int64  // segments waiting to upload
	QueueBytes    int64  // their bytes
	FreeBytes     int64  // free space of the spool's disk
	// AudioLevel is the input's level in dBFS, nil if unknown.
	AudioLevel *float64
	LastError  string
	ReportedAt time.Time
}

// Limits of agent states.
const (
	MaxAgentError    = 1000
	MaxQueueSegments = 1 << 30
	MaxReportedBytes = 1 << 53 // what a JSON number holds exactly
	MinAudioLevel    = -200.0
)

// CheckAgentState says what is wrong with a state report, in a sentence, or nil.
func CheckAgentState(a AgentState) error {
	switch {
	case a.ClientID == "":
		return fmt.Errorf("a state report names its agent: %w", ErrInvalid)
	case a.State != AgentIdle && a.State != AgentCapturing && a.State != AgentUploading && a.State != AgentError:
		return fmt.Errorf("state %q is not one of idle, capturing, uploading, error: %w", a.State, ErrInvalid)
	case a.QueueSegments < 0 || a.QueueSegments > MaxQueueSegments:
		return fmt.Errorf("queue_segments is between 0 and %d: %w", MaxQueueSegments, ErrInvalid)
	case a.QueueBytes < 0 || a.QueueBytes > MaxReportedBytes:
		return fmt.Errorf("queue_bytes is between 0 and %d: %w", int64(MaxReportedBytes), ErrInvalid)
	case a.FreeBytes < 0 || a.FreeBytes > MaxReportedBytes:
		return fmt.Errorf("free_bytes is between 0 and %d: %w", int64(MaxReportedBytes), ErrInvalid)
	case a.AudioLevel != nil && (math.IsNaN(*a.AudioLevel) || *a.AudioLevel < MinAudioLevel || *a.AudioLevel > 0):
		return fmt.Errorf("audio_level is in dBFS, between %g and 0: %w", MinAudioLevel, ErrInvalid)
	case !utf8.ValidString(a.LastError) || utf8.RuneCountInString(a.LastError) > MaxAgentError:
		return fmt.Errorf("last_error has at most %d characters: %w", MaxAgentError, ErrInvalid)
	case len(a.RecordingID) > 64:
		return fmt.Errorf("recording is a recording's ID: %w", ErrInvalid)
	}
	return checkTimes(a.ReportedAt)
}

// PutAgentState replaces the agent's state with a, and returns the state it replaces
// ("" if it reported none before). An agent of no such credential answers ErrNotFound.
func (s *Store) PutAgentState(ctx context.Context, a AgentState) (previous string, err error) {
	if a.ReportedAt.IsZero() {
		a.ReportedAt = s.now()
	}
	if err := CheckAgentState(a); err != nil {
		return "", err
	}
	var level sql.NullFloat64
	if a.AudioLevel != nil {
		level = sql.NullFloat64{Float64: *a.AudioLevel, Valid: true}
	}
	err = s.write(ctx, a.TenantID, func(q querier) error {
		err := q.QueryRowContext(ctx, `SELECT state FROM agent_states WHERE tenant_id = $1 AND client_id = $2`,
			a.TenantID, a.ClientID).Scan(&previous)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("agent state: %w", err)
		}
		_, err = q.ExecContext(ctx, `INSERT INTO agent_states (tenant_id, client_id, state, recording_id, queue_segments,
			queue_bytes, free_bytes, audio_level, last_error, reported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (tenant_id, client_id) DO UPDATE SET state = excluded.state, recording_id = excluded.recording_id,
			queue_segments = excluded.queue_segments, queue_bytes = excluded.queue_bytes, free_bytes = excluded.free_bytes,
			audio_level = excluded.audio_level, last_error = excluded.last_error, reported_at = excluded.reported_at`,
			a.TenantID, a.ClientID, a.State, a.RecordingID, a.QueueSegments, a.QueueBytes, a.FreeBytes, level, a.LastError, nanos(a.ReportedAt))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("agent %q: %w", a.ClientID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("put agent state: %w", err)
		}
		return nil
	})
	return previous, err
}

// AgentStates lists the last state of each of the tenant's agents that reported one,
// by room and agent.
func (s *Store) AgentStates(ctx context.Context, tenantID string) ([]AgentState, error) {
	var out []AgentState
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT a.tenant_id, a.client_id, c.room, c.revoked_at IS NOT NULL, a.state,
			a.recording_id, a.queue_segments, a.queue_bytes, a.free_bytes, a.audio_level, a.last_error, a.reported_at
			FROM agent_states a JOIN oauth_clients c ON c.tenant_id = a.tenant_id AND c.id = a.client_id
			WHERE a.tenant_id = $1 ORDER BY c.room, a.client_id`, tenantID)
		if err != nil {
			return fmt.Errorf("agent states: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				a        AgentState
				level    sql.NullFloat64
				reported int64
			)
			if err := rows.Scan(&a.TenantID, &a.ClientID, &a.Room, &a.Revoked, &a.State, &a.RecordingID, &a.QueueSegments,
				&a.QueueBytes, &a.FreeBytes, &level, &a.LastError, &reported); err != nil {
				return fmt.Errorf("agent states: %w", err)
			}
			if level.Valid {
				a.AudioLevel = &level.Float64
			}
			a.ReportedAt = fromNanos(reported)
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}
