package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/aulacapture/aula/internal/manifest"
)

// Segment is one media segment of a track, stored as it arrived (sealed).
type Segment struct {
	Seq       int
	Start     float64 // seconds from the start of the track
	Duration  float64 // seconds
	Size      int64   // bytes as stored
	Digest    string  // digest of the stored bytes (RFC 9530 form)
	Key       string  // blob-store key
	CreatedAt time.Time
}

const segmentColumns = `seq, start_sec, duration_sec, size, digest, blob_key, created_at`

// PutSegment records a segment of the tenant's track and reports whether it is new. The
// same sequence number again with the same digest answers (false, nil), with a different
// digest ErrConflict; an unknown recording or track answers ErrNotFound. Concurrent calls
// for one sequence number create it once. A zero CreatedAt becomes the current time.
func (s *Store) PutSegment(ctx context.Context, tenantID, recID, trackID string, seg Segment) (created bool, err error) {
	rows := []SegmentRow{{RecordingID: recID, TrackID: trackID, Segment: seg}}
	if err := s.PutSegments(ctx, tenantID, rows); err != nil {
		return false, err
	}
	return rows[0].Created, rows[0].Err
}

// SegmentRow is one segment for PutSegments, with what became of it.
type SegmentRow struct {
	RecordingID, TrackID string
	Segment              Segment
	// Created and Err are PutSegment's answer for this row, set by PutSegments.
	Created bool
	Err     error
}

// PutSegments records segments of the tenant's tracks in one transaction, so that one
// commit (one sync of the database's log) makes them all durable. It sets each row's
// Created and Err as PutSegment would answer for it alone; a row refused (ErrInvalid,
// ErrNotFound, ErrConflict) does not keep the others out. It returns an error, and
// records nothing, when the transaction itself fails.
func (s *Store) PutSegments(ctx context.Context, tenantID string, rows []SegmentRow) error {
	now := s.now()
	todo := make([]*SegmentRow, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		r.Created, r.Err = false, checkSegment(r.Segment)
		if r.Err == nil {
			if r.Segment.CreatedAt.IsZero() {
				r.Segment.CreatedAt = now
			}
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	return s.write(ctx, tenantID, func(q querier) error {
		for _, r := range todo {
			created, err := putSegment(ctx, q, tenantID, r.RecordingID, r.TrackID, r.Segment)
			if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
				return err // the database's own failure: the transaction is done for
			}
			r.Created, r.Err = created, err
		}
		return nil
	})
}

// checkSegment refuses what the segments table must not hold.
func checkSegment(seg Segment) error {
	switch {
	case seg.Seq < 0:
		return fmt.Errorf("segment %d: negative sequence number: %w", seg.Seq, ErrInvalid)
	case seg.Digest == "":
		return fmt.Errorf("segment %d digest empty: %w", seg.Seq, ErrInvalid)
	case seg.Size < 0 || !finite(seg.Start) || !finite(seg.Duration) || seg.Duration < 0:
		return fmt.Errorf("segment %d: bad size, start or duration: %w", seg.Seq, ErrInvalid)
	}
	return checkTimes(seg.CreatedAt)
}

// putSegment inserts one segment row in a write transaction of the tenant.
func putSegment(ctx context.Context, q querier, tenantID, recID, trackID string, seg Segment) (created bool, err error) {
	// Inserting from the track row makes a missing track insert nothing, and ON CONFLICT
	// makes a concurrent insert of the same seq insert nothing, without an error in
	// either database; the read below tells the cases apart.
	n, err := rowsAffected(q.ExecContext(ctx, `
		INSERT INTO segments (tenant_id, recording_id, track_id, `+segmentColumns+`)
		SELECT tenant_id, recording_id, id, CAST($4 AS BIGINT), CAST($5 AS DOUBLE PRECISION),
			CAST($6 AS DOUBLE PRECISION), CAST($7 AS BIGINT), CAST($8 AS TEXT), CAST($9 AS TEXT),
			CAST($10 AS BIGINT)
		FROM tracks WHERE tenant_id = $1 AND recording_id = $2 AND id = $3
		ON CONFLICT (tenant_id, recording_id, track_id, seq) DO NOTHING`,
		tenantID, recID, trackID, seg.Seq, seg.Start, seg.Duration, seg.Size, seg.Digest, seg.Key,
		nanos(seg.CreatedAt)))
	if err != nil {
		return false, fmt.Errorf("put segment %d of track %q: %w", seg.Seq, trackID, err)
	}
	if n == 1 {
		return true, nil
	}
	var have string
	err = q.QueryRowContext(ctx, `SELECT digest FROM segments
		WHERE tenant_id = $1 AND recording_id = $2 AND track_id = $3 AND seq = $4`,
		tenantID, recID, trackID, seg.Seq).Scan(&have)
	switch {
	case err != nil:
		return false, notFound(err, "recording %q track %q", recID, trackID)
	case have != seg.Digest:
		return false, fmt.Errorf("segment %d of track %q has another digest: %w", seg.Seq, trackID, ErrConflict)
	}
	return false, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Segments returns the segments of the tenant's track in sequence order. An unknown
// recording or track answers ErrNotFound.
func (s *Store) Segments(ctx context.Context, tenantID, recID, trackID string) ([]Segment, error) {
	var segs []Segment
	err := s.read(ctx, tenantID, func(q querier) error {
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM tracks
			WHERE tenant_id = $1 AND recording_id = $2 AND id = $3`, tenantID, recID, trackID).Scan(&one)
		if err != nil {
			return notFound(err, "recording %q track %q", recID, trackID)
		}
		rows, err := q.QueryContext(ctx, `SELECT `+segmentColumns+` FROM segments
			WHERE tenant_id = $1 AND recording_id = $2 AND track_id = $3
			ORDER BY seq`, tenantID, recID, trackID)
		if err != nil {
			return fmt.Errorf("segments of track %q: %w", trackID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				sg      Segment
				created int64
			)
			if err := rows.Scan(&sg.Seq, &sg.Start, &sg.Duration, &sg.Size, &sg.Digest, &sg.Key, &created); err != nil {
				return fmt.Errorf("segments of track %q: %w", trackID, err)
			}
			sg.CreatedAt = fromNanos(created)
			segs = append(segs, sg)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return segs, nil
}

// Segment returns one segment of a track; ErrNotFound when the track or the segment is
// not there. It costs one row, so uploads need not read the whole track.
func (s *Store) Segment(ctx context.Context, tenantID, recID, trackID string, seq int) (Segment, error) {
	var sg Segment
	err := s.read(ctx, tenantID, func(q querier) error {
		var created int64
		err := q.QueryRowContext(ctx, `SELECT `+segmentColumns+` FROM segments
			WHERE tenant_id = $1 AND recording_id = $2 AND track_id = $3 AND seq = $4`,
			tenantID, recID, trackID, seq).Scan(&sg.Seq, &sg.Start, &sg.Duration, &sg.Size, &sg.Digest, &sg.Key, &created)
		if err != nil {
			return notFound(err, "recording %q track %q segment %d", recID, trackID, seq)
		}
		sg.CreatedAt = fromNanos(created)
		return nil
	})
	return sg, err
}

// Manifest gives what the store holds of a recording as a manifest: its tracks in
// store order with every segment the store holds, by seq (gaps included as they are).
func (s *Store) Manifest(ctx context.Context, tenantID, id string) (*manifest.Manifest, error) {
	rec, err := s.Recording(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	m := &manifest.Manifest{ID: rec.ID, Title: rec.Title, State: manifest.State(rec.State), StartedAt: rec.StartedAt, Pauses: []manifest.Pause{}}
	for _, t := range rec.Tracks {
		segs, err := s.Segments(ctx, tenantID, id, t.ID)
		if err != nil {
			return nil, err
		}
		mt := manifest.Track{ID: t.ID, Kind: manifest.Kind(t.Kind), Codec: t.Codec, Width: t.Width, Height: t.Height,
			Bandwidth: t.Bandwidth, InitDigest: t.InitDigest, Segments: make([]manifest.Segment, 0, len(segs))}
		for _, sg := range segs {
			mt.Segments = append(mt.Segments, manifest.Segment{Seq: sg.Seq, Start: sg.Start, Duration: sg.Duration, Size: sg.Size, Digest: sg.Digest})
		}
		m.Tracks = append(m.Tracks, mt)
	}
	return m, nil
}

// SharedDatabase reports whether several servers may share this database (PostgreSQL),
// so that work on one segment must be serialised in the database, not in one process.
func (s *Store) SharedDatabase() bool { return s.dialect == dialectPostgres }

// PutSegmentExclusive records seg as PutSegment does, under a lock on the segment's
// number that every server sharing the database honours (a PostgreSQL advisory lock of
// the transaction): if the segment is stored already it returns it and neither writes
// nor records anything; otherwise it calls write (which puts the object) and then
// records the row, and only then lets the next upload of that number look. So the stored
// object and the recorded digest always agree, whichever server each upload reaches.
func (s *Store) PutSegmentExclusive(ctx context.Context, tenantID, recID, trackID string, seg Segment, write func() error) (created bool, existing *Segment, err error) {
	if err := checkSegment(seg); err != nil {
		return false, nil, err
	}
	if seg.CreatedAt.IsZero() {
		seg.CreatedAt = s.now()
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "segment\x00%s\x00%s\x00%s\x00%d", tenantID, recID, trackID, seg.Seq)
	lockKey := int64(h.Sum64())
	err = s.write(ctx, tenantID, func(q querier) error {
		if s.dialect == dialectPostgres {
			if _, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
				return fmt.Errorf("lock segment %d: %w", seg.Seq, err)
			}
		}
		var have Segment
		var createdAt int64
		err := q.QueryRowContext(ctx, `SELECT `+segmentColumns+` FROM segments
			WHERE tenant_id = $1 AND recording_id = $2 AND track_id = $3 AND seq = $4`,
			tenantID, recID, trackID, seg.Seq).Scan(&have.Seq, &have.Start, &have.Duration, &have.Size, &have.Digest, &have.Key, &createdAt)
		switch {
		case err == nil:
			have.CreatedAt = fromNanos(createdAt)
			existing = &have
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read segment %d: %w", seg.Seq, err)
		}
		if err := write(); err != nil {
			return err
		}
		created, err = putSegment(ctx, q, tenantID, recID, trackID, seg)
		return err
	})
	return created, existing, err
}
