package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestPutSegment(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "rec", t0)))
		freeze(s, t0.Add(time.Minute))
		seg := Segment{Seq: 7, Start: 14, Duration: 2.002, Size: 123456, Digest: "sha-256=:seven:", Key: "a/rec/cam/7"}
		if created := must[bool](t)(s.PutSegment(ctx, a.ID, "rec", "cam", seg)); !created {
			t.Error("first PutSegment: created = false")
		}
		if created := must[bool](t)(s.PutSegment(ctx, a.ID, "rec", "cam", seg)); created {
			t.Error("same digest again: created = true")
		}
		other := seg
		other.Digest = "sha-256=:eight:"
		_, err := s.PutSegment(ctx, a.ID, "rec", "cam", other)
		wantErr(t, "other digest", err, ErrConflict)
		// The same seq on another track is another segment.
		if created := must[bool](t)(s.PutSegment(ctx, a.ID, "rec", "mic", other)); !created {
			t.Error("same seq on another track: created = false")
		}
		_, err = s.PutSegment(ctx, a.ID, "nope", "cam", seg)
		wantErr(t, "unknown recording", err, ErrNotFound)
		_, err = s.PutSegment(ctx, a.ID, "rec", "scr", seg)
		wantErr(t, "unknown track", err, ErrNotFound)
		for name, bad := range map[string]Segment{
			"negative seq":      {Seq: -1, Digest: "d"},
			"no digest":         {Seq: 1},
			"negative size":     {Seq: 1, Digest: "d", Size: -1},
			"negative duration": {Seq: 1, Digest: "d", Duration: -2},
		} {
			_, err := s.PutSegment(ctx, a.ID, "rec", "cam", bad)
			wantErr(t, name, err, ErrInvalid)
		}

		got := must[[]Segment](t)(s.Segments(ctx, a.ID, "rec", "cam"))
		seg.CreatedAt = t0.Add(time.Minute)
		if !reflect.DeepEqual(got, []Segment{seg}) {
			t.Errorf("Segments = %+v, want [%+v]", got, seg)
		}
	})
}

func TestPutSegmentConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "rec", t0)))
		for _, sameDigest := range []bool{true, false} {
			t.Run(fmt.Sprintf("same digest %v", sameDigest), func(t *testing.T) {
				seq := 1
				if !sameDigest {
					seq = 2
				}
				var (
					wg                          sync.WaitGroup
					mu                          sync.Mutex
					created, repeated, conflict int
				)
				for g := range 8 {
					wg.Go(func() {
						digest := "sha-256=:same:"
						if !sameDigest {
							digest = fmt.Sprintf("sha-256=:%d:", g)
						}
						c, err := s.PutSegment(ctx, a.ID, "rec", "cam", Segment{Seq: seq, Duration: 2, Digest: digest, Key: "k"})
						mu.Lock()
						defer mu.Unlock()
						switch {
						case errors.Is(err, ErrConflict):
							conflict++
						case err != nil:
							t.Errorf("goroutine %d: %v", g, err)
						case c:
							created++
						default:
							repeated++
						}
					})
				}
				wg.Wait()
				wantRepeated, wantConflict := 7, 0
				if !sameDigest {
					wantRepeated, wantConflict = 0, 7
				}
				if created != 1 || repeated != wantRepeated || conflict != wantConflict {
					t.Errorf("created %d, repeated %d, conflict %d; want 1, %d, %d", created, repeated, conflict, wantRepeated, wantConflict)
				}
			})
		}
	})
}

func TestPutSegments(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, b := tenant(t, s, "a"), tenant(t, s, "b")
		must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "rec", t0)))
		must[bool](t)(s.PutRecording(ctx, lecture(b.ID, "rec", t0)))
		seg := func(seq int, digest string) Segment {
			return Segment{Seq: seq, Start: float64(2 * seq), Duration: 2, Size: 1000, Digest: digest, Key: fmt.Sprint("k", seq)}
		}
		must[bool](t)(s.PutSegment(ctx, a.ID, "rec", "cam", seg(1, "one")))
		freeze(s, t0.Add(time.Hour))
		rows := []SegmentRow{
			{RecordingID: "rec", TrackID: "cam", Segment: seg(2, "two")},
			{RecordingID: "rec", TrackID: "cam", Segment: seg(1, "one")},   // a repeat
			{RecordingID: "rec", TrackID: "cam", Segment: seg(1, "other")}, // a conflict
			{RecordingID: "rec", TrackID: "mic", Segment: seg(2, "two")},   // another track
			{RecordingID: "rec", TrackID: "scr", Segment: seg(3, "three")}, // no such track
			{RecordingID: "nope", TrackID: "cam", Segment: seg(3, "three")},
			{RecordingID: "rec", TrackID: "cam", Segment: seg(-1, "bad")},
			{RecordingID: "rec", TrackID: "cam", Segment: seg(4, "")},
			{RecordingID: "rec", TrackID: "cam", Segment: seg(3, "three")},
			{RecordingID: "rec", TrackID: "cam", Segment: seg(3, "three")}, // the same twice in one batch
		}
		check(t, s.PutSegments(ctx, a.ID, rows))
		want := []struct {
			created bool
			err     error
		}{{true, nil}, {false, nil}, {false, ErrConflict}, {true, nil}, {false, ErrNotFound}, {false, ErrNotFound},
			{false, ErrInvalid}, {false, ErrInvalid}, {true, nil}, {false, nil}}
		for i, w := range want {
			if rows[i].Created != w.created || !errors.Is(rows[i].Err, w.err) || (w.err == nil) != (rows[i].Err == nil) {
				t.Errorf("row %d: created %v, err %v; want %v, %v", i, rows[i].Created, rows[i].Err, w.created, w.err)
			}
		}
		var seqs []int
		for _, sg := range must[[]Segment](t)(s.Segments(ctx, a.ID, "rec", "cam")) {
			seqs = append(seqs, sg.Seq)
			if sg.Seq != 1 && !sg.CreatedAt.Equal(t0.Add(time.Hour)) {
				t.Errorf("segment %d created at %v, want the batch's time", sg.Seq, sg.CreatedAt)
			}
		}
		if !reflect.DeepEqual(seqs, []int{1, 2, 3}) {
			t.Errorf("track cam holds %v, want [1 2 3]", seqs)
		}
		// A batch is the tenant's: the other tenant's recording of the same id is not
		// reached, and an empty batch is no error.
		other := []SegmentRow{{RecordingID: "rec", TrackID: "cam", Segment: seg(5, "five")}}
		check(t, s.PutSegments(ctx, b.ID, other))
		if !other[0].Created {
			t.Errorf("tenant b's row: %+v", other[0])
		}
		if segs := must[[]Segment](t)(s.Segments(ctx, a.ID, "rec", "cam")); len(segs) != 3 {
			t.Errorf("tenant a's track holds %d segments after tenant b's batch, want 3", len(segs))
		}
		check(t, s.PutSegments(ctx, a.ID, nil))
	})
}

func TestSegmentsOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "rec", t0)))
		if segs := must[[]Segment](t)(s.Segments(ctx, a.ID, "rec", "cam")); len(segs) != 0 {
			t.Errorf("new track has segments %+v", segs)
		}
		// Arrival order is not sequence order, and 10 sorts after 9 (numbers, not text).
		for _, seq := range []int{3, 10, 0, 9, 1, 2} {
			must[bool](t)(s.PutSegment(ctx, a.ID, "rec", "cam", Segment{Seq: seq, Start: float64(2 * seq), Duration: 2,
				Size: int64(1000 + seq), Digest: fmt.Sprintf("d%d", seq), Key: fmt.Sprintf("k%d", seq)}))
		}
		var got []int
		for _, sg := range must[[]Segment](t)(s.Segments(ctx, a.ID, "rec", "cam")) {
			if sg.Start != float64(2*sg.Seq) || sg.Size != int64(1000+sg.Seq) || sg.Digest != fmt.Sprintf("d%d", sg.Seq) {
				t.Errorf("segment %+v", sg)
			}
			got = append(got, sg.Seq)
		}
		if want := []int{0, 1, 2, 3, 9, 10}; !reflect.DeepEqual(got, want) {
			t.Errorf("Segments in order %v, want %v", got, want)
		}
		_, err := s.Segments(ctx, a.ID, "rec", "scr")
		wantErr(t, "unknown track", err, ErrNotFound)
	})
}

// TestPutSegmentExclusiveAcrossServers: two servers (two stores on one PostgreSQL) take
// uploads of the same segment numbers with different bytes at once; whichever wins, the
// object it wrote and the digest recorded agree, and the loser writes nothing.
func TestPutSegmentExclusiveAcrossServers(t *testing.T) {
	dsn := newDSN(t, dialectPostgres)
	s1, s2 := openStore(t, dsn), openStore(t, dsn)
	if !s1.SharedDatabase() {
		t.Fatal("PostgreSQL: SharedDatabase = false")
	}
	ctx := context.Background()
	a := tenant(t, s1, "a")
	must[bool](t)(s1.PutRecording(ctx, lecture(a.ID, "rec", t0)))
	var mu sync.Mutex
	objects := map[int]string{} // the "blob store": seq → digest of the bytes written last
	writes := 0
	const rounds = 40
	var wg sync.WaitGroup
	for i, s := range []*Store{s1, s2, s1, s2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 1; seq <= rounds; seq++ {
				digest := fmt.Sprintf("sha-256=:upload-%d-of-%d:", i, seq)
				seg := Segment{Seq: seq, Duration: 2, Size: 10, Digest: digest, Key: "k"}
				_, existing, err := s.PutSegmentExclusive(ctx, a.ID, "rec", "cam", seg, func() error {
					mu.Lock()
					writes++
					mu.Unlock()
					time.Sleep(time.Millisecond) // the object takes a while to land
					mu.Lock()
					objects[seq] = digest
					mu.Unlock()
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if existing != nil && existing.Digest == digest {
					t.Errorf("seq %d: existing has this upload's digest", seq)
				}
			}
		}()
	}
	wg.Wait()
	if writes != rounds {
		t.Errorf("%d objects written for %d segment numbers: losers wrote too", writes, rounds)
	}
	for seq := 1; seq <= rounds; seq++ {
		row := must[Segment](t)(s2.Segment(ctx, a.ID, "rec", "cam", seq))
		if objects[seq] != row.Digest {
			t.Errorf("seq %d: object of %s, row of %s", seq, objects[seq], row.Digest)
		}
	}
}
