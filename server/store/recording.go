package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Recording is one lecture capture with its tracks.
type Recording struct {
	TenantID string
	ID       string // the agent's UUIDv7, unique in the tenant
	Title    string
	State    string // one of the manifest states (capturing, capture_finished, ...)
	// StartedAt is when capture began, as the agent reports it.
	StartedAt time.Time
	// CreatedAt is when the server first stored the recording; UpdatedAt when its title,
	// state, start or completion last changed.
	CreatedAt, UpdatedAt time.Time
	// CompletedAt is when the agent first declared the upload complete; nil before.
	CompletedAt *time.Time
	Duration    float64 // seconds, as declared on completion
	Tracks      []Track // ordered by ID
	// FolderID is the folder the recording belongs to; empty in PutRecording means the
	// tenant's root folder. PutRecording sets it only when it creates the recording.
	FolderID string
	// CreatedBy is who created it: "user:ID" or "agent:CLIENT-ID"; set on creation only.
	CreatedBy string
	// PublishedAt is when it was last published; nil while unpublished (only those who
	// may edit or publish in its folder see it then).
	PublishedAt *time.Time
}

// Track is one camera, screen or audio stream of a recording.
type Track struct {
	ID         string // unique in the recording
	Kind       string // "camera", "screen" or "audio"
	Codec      string // RFC 6381 codec string
	Width      int
	Height     int
	Bandwidth  int64  // bits per second
	InitDigest string // digest of the init segment; set by SetTrackInit only
	InitKey    string // blob-store key of the init segment; set by SetTrackInit only
}

// Track kinds.
const (
	KindCamera = "camera"
	KindScreen = "screen"
	KindAudio  = "audio"
)

// Defaults and bounds of ListRecordings' limit.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

const recordingColumns = `tenant_id, id, title, state, started_at, created_at, updated_at, completed_at, duration, folder_id, created_by, published_at`

const trackColumns = `recording_id, id, kind, codec, width, height, bandwidth, init_digest, init_key`

func (r *Recording) validate() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("recording ID empty: %w", ErrInvalid)
	case r.State == "":
		return fmt.Errorf("recording %q state empty: %w", r.ID, ErrInvalid)
	}
	if err := checkTimes(r.StartedAt, r.CreatedAt); err != nil {
		return err
	}
	seen := make(map[string]bool, len(r.Tracks))
	for _, t := range r.Tracks {
		switch {
		case t.ID == "":
			return fmt.Errorf("recording %q: track ID empty: %w", r.ID, ErrInvalid)
		case seen[t.ID]:
			return fmt.Errorf("recording %q: track %q twice: %w", r.ID, t.ID, ErrInvalid)
		case t.Kind != KindCamera && t.Kind != KindScreen && t.Kind != KindAudio:
			return fmt.Errorf("track %q kind %q: %w", t.ID, t.Kind, ErrInvalid)
		case t.Width < 0 || t.Height < 0 || t.Bandwidth < 0:
			return fmt.Errorf("track %q: negative size or bandwidth: %w", t.ID, ErrInvalid)
		}
		seen[t.ID] = true
	}
	return nil
}

// PutRecording creates the recording or updates its title, state and start, and creates
// or updates its tracks; it reports whether the recording was new. Repeating a call
// changes nothing. Tracks absent from r are kept, with their segments. A track's kind and
// codec may change only while it has no segments: after that, ErrConflict. PutRecording
// ignores r's CompletedAt, Duration and UpdatedAt and the tracks' InitDigest and InitKey
// (see CompleteRecording and SetTrackInit); a zero CreatedAt becomes the current time.
// A recording whose upload finished keeps that state and its metadata: an agent that
// repeats an announcement after completing (a crash between the two) changes nothing.
func (s *Store) PutRecording(ctx context.Context, r Recording) (created bool, err error) {
	if err := r.validate(); err != nil {
		return false, err
	}
	now := nanos(s.now())
	createdAt := now
	if !r.CreatedAt.IsZero() {
		createdAt = nanos(r.CreatedAt)
	}
	folder := r.FolderID
	if folder == "" {
		folder = r.TenantID
	}
	err = s.write(ctx, r.TenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `
			INSERT INTO recordings (`+recordingColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, 0, $8, $9, $10)
			ON CONFLICT (tenant_id, id) DO NOTHING`,
			r.TenantID, r.ID, r.Title, r.State, nanos(r.StartedAt), createdAt, now, folder, r.CreatedBy, nullNanos(r.PublishedAt)))
		switch {
		case isForeignKeyViolation(err):
			return fmt.Errorf("tenant %q: %w", r.TenantID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("put recording %q: %w", r.ID, err)
		}
		created = n == 1
		if !created {
			_, err := q.ExecContext(ctx, `
				UPDATE recordings SET title = $3, state = $4, started_at = $5, updated_at = $6
				WHERE tenant_id = $1 AND id = $2
				AND (title <> $3 OR state <> $4 OR started_at <> $5)
				AND (state <> 'upload_finished' OR $4 = 'upload_finished')`,
				r.TenantID, r.ID, r.Title, r.State, nanos(r.StartedAt), now)
			if err != nil {
				return fmt.Errorf("put recording %q: %w", r.ID, err)
			}
		}
		for _, t := range r.Tracks {
			if err := putTrack(ctx, q, r.TenantID, r.ID, t); err != nil {
				return err
			}
		}
		return nil
	})
	return created, err
}

func putTrack(ctx context.Context, q querier, tenantID, recID string, t Track) error {
	n, err := rowsAffected(q.ExecContext(ctx, `
		INSERT INTO tracks (tenant_id, `+trackColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', '')
		ON CONFLICT (tenant_id, recording_id, id) DO NOTHING`,
		tenantID, recID, t.ID, t.Kind, t.Codec, t.Width, t.Height, t.Bandwidth))
	if err != nil {
		return fmt.Errorf("put track %q: %w", t.ID, err)
	}
	if n == 1 {
		return nil
	}
	n, err = rowsAffected(q.ExecContext(ctx, `
		UPDATE tracks SET kind = $4, codec = $5, width = $6, height = $7, bandwidth = $8
		WHERE tenant_id = $1 AND recording_id = $2 AND id = $3
		AND ((kind = $4 AND codec = $5) OR NOT EXISTS (
			SELECT 1 FROM segments
			WHERE segments.tenant_id = $1 AND segments.recording_id = $2 AND segments.track_id = $3))`,
		tenantID, recID, t.ID, t.Kind, t.Codec, t.Width, t.Height, t.Bandwidth))
	if err != nil {
		return fmt.Errorf("put track %q: %w", t.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("track %q has segments, its kind or codec cannot change: %w", t.ID, ErrConflict)
	}
	return nil
}

// Recording finds the tenant's recording, with its tracks.
func (s *Store) Recording(ctx context.Context, tenantID, id string) (Recording, error) {
	var r Recording
	err := s.read(ctx, tenantID, func(q querier) error {
		var err error
		r, err = scanRecording(q.QueryRowContext(ctx, `SELECT `+recordingColumns+` FROM recordings
			WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		if err != nil {
			return notFound(err, "recording %q", id)
		}
		recs := []*Recording{&r}
		return addTracks(ctx, q, tenantID, recs)
	})
	if err != nil {
		return Recording{}, err
	}
	return r, nil
}

// ListRecordings returns the tenant's recordings with their tracks, newest first (by
// StartedAt, then CreatedAt, then ID), skipping offset and returning at most limit. A
// limit of zero or less means DefaultListLimit; above MaxListLimit, MaxListLimit.
func (s *Store) ListRecordings(ctx context.Context, tenantID string, limit, offset int) ([]Recording, error) {
	return s.listRecordings(ctx, tenantID, "TRUE", nil, limit, offset)
}

// listRecordings lists the tenant's recordings that where (SQL over the recordings'
// columns, with placeholders from $4 on for args) holds, as ListRecordings does.
func (s *Store) listRecordings(ctx context.Context, tenantID, where string, args []any, limit, offset int) ([]Recording, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	offset = max(offset, 0)
	var list []Recording
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+recordingColumns+` FROM recordings
			WHERE tenant_id = $1 AND (`+where+`)
			ORDER BY started_at DESC, created_at DESC, id DESC
			LIMIT $2 OFFSET $3`, append([]any{tenantID, limit, offset}, args...)...)
		if err != nil {
			return fmt.Errorf("list recordings: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRecording(rows)
			if err != nil {
				return fmt.Errorf("list recordings: %w", err)
			}
			list = append(list, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list recordings: %w", err)
		}
		rows.Close()
		recs := make([]*Recording, len(list))
		for i := range list {
			recs[i] = &list[i]
		}
		return addTracks(ctx, q, tenantID, recs)
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

func scanRecording(r scanner) (Recording, error) {
	var (
		rec                       Recording
		started, created, updated int64
		completed                 sql.NullInt64
	)
	var published sql.NullInt64
	err := r.Scan(&rec.TenantID, &rec.ID, &rec.Title, &rec.State, &started, &created, &updated,
		&completed, &rec.Duration, &rec.FolderID, &rec.CreatedBy, &published)
	if err != nil {
		return Recording{}, err
	}
	rec.StartedAt, rec.CreatedAt, rec.UpdatedAt = fromNanos(started), fromNanos(created), fromNanos(updated)
	rec.CompletedAt, rec.PublishedAt = fromNullNanos(completed), fromNullNanos(published)
	return rec, nil
}

// addTracks fills in the tracks of recs, which belong to tenantID.
func addTracks(ctx context.Context, q querier, tenantID string, recs []*Recording) error {
	if len(recs) == 0 {
		return nil
	}
	byID := make(map[string]*Recording, len(recs))
	args := []any{tenantID}
	for _, r := range recs {
		byID[r.ID] = r
		args = append(args, r.ID)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+trackColumns+` FROM tracks
		WHERE tenant_id = $1 AND recording_id IN (`+placeholders(2, len(recs))+`)
		ORDER BY recording_id, id`, args...)
	if err != nil {
		return fmt.Errorf("tracks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			recID string
			t     Track
		)
		if err := rows.Scan(&recID, &t.ID, &t.Kind, &t.Codec, &t.Width, &t.Height, &t.Bandwidth,
			&t.InitDigest, &t.InitKey); err != nil {
			return fmt.Errorf("tracks: %w", err)
		}
		if r := byID[recID]; r != nil {
			r.Tracks = append(r.Tracks, t)
		}
	}
	return rows.Err()
}

// SetTrackInit records the digest and blob-store key of a track's init segment. Setting
// the same digest again changes nothing (the first key stays); a different digest
// answers ErrConflict.
func (s *Store) SetTrackInit(ctx context.Context, tenantID, recID, trackID, digest, key string) error {
	if digest == "" {
		return fmt.Errorf("track %q init digest empty: %w", trackID, ErrInvalid)
	}
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `
			UPDATE tracks SET init_digest = $4, init_key = $5
			WHERE tenant_id = $1 AND recording_id = $2 AND id = $3 AND init_digest = ''`,
			tenantID, recID, trackID, digest, key))
		if err != nil {
			return fmt.Errorf("set init of track %q: %w", trackID, err)
		}
		if n == 1 {
			return nil
		}
		var have string
		err = q.QueryRowContext(ctx, `SELECT init_digest FROM tracks
			WHERE tenant_id = $1 AND recording_id = $2 AND id = $3`, tenantID, recID, trackID).Scan(&have)
		switch {
		case err != nil:
			return notFound(err, "recording %q track %q", recID, trackID)
		case have != digest:
			return fmt.Errorf("track %q has another init segment: %w", trackID, ErrConflict)
		}
		return nil
	})
}

// CompleteRecording records the recording's duration and, the first time, its completion
// at at. The state is left to PutRecording.
func (s *Store) CompleteRecording(ctx context.Context, tenantID, id string, duration float64, at time.Time) error {
	if duration < 0 || !finite(duration) {
		return fmt.Errorf("recording %q duration %v: %w", id, duration, ErrInvalid)
	}
	if err := checkTimes(at); err != nil {
		return err
	}
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `
			UPDATE recordings SET duration = $3, completed_at = COALESCE(completed_at, $4), updated_at = $5
			WHERE tenant_id = $1 AND id = $2`,
			tenantID, id, duration, nanos(at), nanos(s.now())))
		if err != nil {
			return fmt.Errorf("complete recording %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("recording %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// DeleteRecording deletes the recording with its tracks and segments. It deletes rows
// only: the caller deletes the blobs.
func (s *Store) DeleteRecording(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx,
			`DELETE FROM recordings WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		if err != nil {
			return fmt.Errorf("delete recording %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("recording %q: %w", id, ErrNotFound)
		}
		return nil
	})
}
