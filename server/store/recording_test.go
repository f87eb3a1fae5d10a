package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// lecture returns a recording of tenant with a camera and an audio track.
func lecture(tenantID, id string, started time.Time) Recording {
	return Recording{TenantID: tenantID, FolderID: tenantID, ID: id, Title: "Linear algebra 3", State: "capturing", StartedAt: started,
		Tracks: []Track{
			{ID: "cam", Kind: KindCamera, Codec: "avc1.64001f", Width: 1280, Height: 720, Bandwidth: 2_500_000},
			{ID: "mic", Kind: KindAudio, Codec: "mp4a.40.2", Bandwidth: 128_000},
		}}
}

func tenant(t *testing.T, s *Store, name string) Tenant {
	t.Helper()
	return must[Tenant](t)(s.CreateTenant(context.Background(), Tenant{Name: name, Recipient: "age1" + name}))
}

func TestPutRecording(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		r := lecture(a.ID, "0195f0b2-0000-7000-8000-000000000001", t0)
		freeze(s, t0.Add(time.Second))
		if created := must[bool](t)(s.PutRecording(ctx, r)); !created {
			t.Error("first PutRecording: created = false")
		}
		got := must[Recording](t)(s.Recording(ctx, a.ID, r.ID))
		want := r
		want.CreatedAt, want.UpdatedAt = t0.Add(time.Second), t0.Add(time.Second)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Recording =\n%+v, want\n%+v", got, want)
		}

		// Repeating changes nothing, not even UpdatedAt.
		freeze(s, t0.Add(2*time.Second))
		if created := must[bool](t)(s.PutRecording(ctx, r)); created {
			t.Error("repeated PutRecording: created = true")
		}
		if again := must[Recording](t)(s.Recording(ctx, a.ID, r.ID)); !reflect.DeepEqual(again, want) {
			t.Errorf("after repeat:\n%+v, want\n%+v", again, want)
		}

		// An update of title and state, a new track, a kind change on a track without
		// segments; tracks left out stay.
		r.Title, r.State = "Linear algebra 3 (eigenvalues)", "capture_finished"
		r.Tracks = []Track{
			{ID: "cam", Kind: KindScreen, Codec: "avc1.640028", Width: 1920, Height: 1080, Bandwidth: 4_000_000},
			{ID: "scr", Kind: KindScreen, Codec: "avc1.640028", Width: 1920, Height: 1080, Bandwidth: 3_000_000},
		}
		freeze(s, t0.Add(3*time.Second))
		if created := must[bool](t)(s.PutRecording(ctx, r)); created {
			t.Error("update: created = true")
		}
		got = must[Recording](t)(s.Recording(ctx, a.ID, r.ID))
		want.Title, want.State, want.UpdatedAt = r.Title, r.State, t0.Add(3*time.Second)
		want.Tracks = []Track{r.Tracks[0], lecture("", "", t0).Tracks[1], r.Tracks[1]} // by ID: cam, mic, scr
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after update:\n%+v, want\n%+v", got, want)
		}

		// Once a track has segments its kind and codec stay; size may change. A failed
		// call changes nothing at all.
		must[bool](t)(s.PutSegment(ctx, a.ID, r.ID, "cam", Segment{Seq: 0, Duration: 2, Size: 10, Digest: "sha-256=:AA==:", Key: "k0"}))
		freeze(s, t0.Add(4*time.Second))
		bad := r
		bad.Title = "changed by a failed call"
		bad.Tracks = []Track{{ID: "cam", Kind: KindCamera, Codec: "avc1.640028", Width: 1920, Height: 1080}}
		_, err := s.PutRecording(ctx, bad)
		wantErr(t, "kind change after segments", err, ErrConflict)
		bad.Tracks = []Track{{ID: "cam", Kind: KindScreen, Codec: "hvc1.1.6.L93.B0", Width: 1920, Height: 1080}}
		_, err = s.PutRecording(ctx, bad)
		wantErr(t, "codec change after segments", err, ErrConflict)
		if got := must[Recording](t)(s.Recording(ctx, a.ID, r.ID)); !reflect.DeepEqual(got, want) {
			t.Errorf("after failed calls:\n%+v, want\n%+v", got, want)
		}
		r.Tracks = []Track{{ID: "cam", Kind: KindScreen, Codec: "avc1.640028", Width: 1280, Height: 800, Bandwidth: 1}}
		must[bool](t)(s.PutRecording(ctx, r))
		if got := must[Recording](t)(s.Recording(ctx, a.ID, r.ID)).Tracks[0]; got.Width != 1280 || got.Height != 800 || got.Bandwidth != 1 {
			t.Errorf("size change with segments: track %+v", got)
		}

		for name, bad := range map[string]Recording{
			"no ID":           {TenantID: a.ID, State: "capturing"},
			"no state":        {TenantID: a.ID, ID: "x"},
			"bad kind":        {TenantID: a.ID, ID: "x", State: "capturing", Tracks: []Track{{ID: "t", Kind: "hologram"}}},
			"no track ID":     {TenantID: a.ID, ID: "x", State: "capturing", Tracks: []Track{{Kind: KindAudio}}},
			"track twice":     {TenantID: a.ID, ID: "x", State: "capturing", Tracks: []Track{{ID: "t", Kind: KindAudio}, {ID: "t", Kind: KindAudio}}},
			"negative width":  {TenantID: a.ID, ID: "x", State: "capturing", Tracks: []Track{{ID: "t", Kind: KindCamera, Width: -1}}},
			"time far future": {TenantID: a.ID, ID: "x", State: "capturing", StartedAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
		} {
			_, err := s.PutRecording(ctx, bad)
			wantErr(t, name, err, ErrInvalid)
		}
		_, err = s.PutRecording(ctx, lecture("nope", "x", t0))
		wantErr(t, "unknown tenant", err, ErrNotFound)
		_, err = s.Recording(ctx, a.ID, "nope")
		wantErr(t, "missing recording", err, ErrNotFound)
	})
}

func TestSetTrackInit(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		r := lecture(a.ID, "rec", t0)
		must[bool](t)(s.PutRecording(ctx, r))
		check(t, s.SetTrackInit(ctx, a.ID, "rec", "cam", "sha-256=:init:", "a/rec/cam/init"))
		check(t, s.SetTrackInit(ctx, a.ID, "rec", "cam", "sha-256=:init:", "a/rec/cam/init-again"))
		wantErr(t, "other digest", s.SetTrackInit(ctx, a.ID, "rec", "cam", "sha-256=:other:", "k"), ErrConflict)
		wantErr(t, "unknown track", s.SetTrackInit(ctx, a.ID, "rec", "scr", "d", "k"), ErrNotFound)
		wantErr(t, "unknown recording", s.SetTrackInit(ctx, a.ID, "nope", "cam", "d", "k"), ErrNotFound)
		wantErr(t, "empty digest", s.SetTrackInit(ctx, a.ID, "rec", "mic", "", "k"), ErrInvalid)

		// PutRecording leaves the init segment alone.
		must[bool](t)(s.PutRecording(ctx, r))
		got := must[Recording](t)(s.Recording(ctx, a.ID, "rec")).Tracks
		if got[0].InitDigest != "sha-256=:init:" || got[0].InitKey != "a/rec/cam/init" || got[1].InitDigest != "" {
			t.Errorf("tracks %+v", got)
		}
	})
}

func TestListRecordings(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		if list := must[[]Recording](t)(s.ListRecordings(ctx, a.ID, 10, 0)); len(list) != 0 {
			t.Errorf("empty tenant lists %d recordings", len(list))
		}
		// Started in the order 2, 0, 4, 1, 3 (hours after t0); stored in ID order.
		for i, h := range []int{2, 0, 4, 1, 3} {
			r := lecture(a.ID, fmt.Sprintf("rec%d", i), t0.Add(time.Duration(h)*time.Hour))
			r.Title = fmt.Sprintf("hour %d", h)
			must[bool](t)(s.PutRecording(ctx, r))
		}
		titles := func(list []Recording) string {
			var out string
			for _, r := range list {
				out += r.Title[5:]
				if len(r.Tracks) != 2 {
					t.Errorf("%s has %d tracks", r.ID, len(r.Tracks))
				}
			}
			return out
		}
		for _, c := range []struct {
			limit, offset int
			want          string
		}{
			{10, 0, "43210"},
			{2, 0, "43"},
			{2, 2, "21"},
			{2, 4, "0"},
			{2, 5, ""},
			{0, 0, "43210"},   // default limit
			{-1, -3, "43210"}, // default limit, no offset
		} {
			got := titles(must[[]Recording](t)(s.ListRecordings(ctx, a.ID, c.limit, c.offset)))
			if got != c.want {
				t.Errorf("ListRecordings(limit %d, offset %d) = %q, want %q", c.limit, c.offset, got, c.want)
			}
		}
	})
}

func TestCompleteRecording(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "rec", t0)))
		done := t0.Add(50*time.Minute + 7)
		check(t, s.CompleteRecording(ctx, a.ID, "rec", 2999.5, done))
		got := must[Recording](t)(s.Recording(ctx, a.ID, "rec"))
		if got.CompletedAt == nil || !got.CompletedAt.Equal(done) || got.Duration != 2999.5 || got.State != "capturing" {
			t.Errorf("after complete: %+v", got)
		}
		// A retried completion keeps the first time and takes the new duration.
		check(t, s.CompleteRecording(ctx, a.ID, "rec", 3000, done.Add(time.Minute)))
		got = must[Recording](t)(s.Recording(ctx, a.ID, "rec"))
		if !got.CompletedAt.Equal(done) || got.Duration != 3000 {
			t.Errorf("after second complete: %+v", got)
		}
		// Once the upload finished, a repeated announcement (an agent that crashed after
		// completing) does not take the state back.
		fin := lecture(a.ID, "rec", t0)
		fin.State = "upload_finished"
		must[bool](t)(s.PutRecording(ctx, fin))
		must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "rec", t0)))
		if got = must[Recording](t)(s.Recording(ctx, a.ID, "rec")); got.State != "upload_finished" {
			t.Errorf("a late announcement took the state back to %q", got.State)
		}
		wantErr(t, "missing", s.CompleteRecording(ctx, a.ID, "nope", 1, done), ErrNotFound)
		wantErr(t, "negative duration", s.CompleteRecording(ctx, a.ID, "rec", -1, done), ErrInvalid)
	})
}

func TestDeleteRecording(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := tenant(t, s, "a")
		must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "rec", t0)))
		must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "keep", t0)))
		for _, id := range []string{"rec", "keep"} {
			must[bool](t)(s.PutSegment(ctx, a.ID, id, "cam", Segment{Seq: 1, Digest: "d", Key: "k"}))
		}
		check(t, s.DeleteRecording(ctx, a.ID, "rec"))
		_, err := s.Recording(ctx, a.ID, "rec")
		wantErr(t, "deleted recording", err, ErrNotFound)
		_, err = s.Segments(ctx, a.ID, "rec", "cam")
		wantErr(t, "deleted recording's segments", err, ErrNotFound)
		wantErr(t, "delete again", s.DeleteRecording(ctx, a.ID, "rec"), ErrNotFound)
		if segs := must[[]Segment](t)(s.Segments(ctx, a.ID, "keep", "cam")); len(segs) != 1 {
			t.Errorf("other recording has %d segments", len(segs))
		}
		// The ID can be used again, from scratch.
		if created := must[bool](t)(s.PutRecording(ctx, lecture(a.ID, "rec", t0))); !created {
			t.Error("PutRecording after delete: created = false")
		}
		if segs := must[[]Segment](t)(s.Segments(ctx, a.ID, "rec", "cam")); len(segs) != 0 {
			t.Errorf("recreated recording has %d segments", len(segs))
		}
	})
}
