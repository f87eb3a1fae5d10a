package upload

import (
	"testing"
	"time"
)

func TestInWindow(t *testing.T) {
	night := Window{From: 22 * time.Hour, To: 6 * time.Hour}
	lunch := Window{From: 12 * time.Hour, To: 13*time.Hour + 30*time.Minute}
	day := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, time.Local) }
	cases := []struct {
		at   time.Time
		open bool
		next time.Time
	}{
		{day(23, 0), true, time.Time{}},
		{day(5, 59), true, time.Time{}},
		{day(6, 0), false, day(12, 0)},
		{day(12, 0), true, time.Time{}},
		{day(13, 30), false, day(22, 0)},
	}
	for _, c := range cases {
		open, next := inWindow([]Window{night, lunch}, c.at)
		if open != c.open || !next.Equal(c.next) {
			t.Errorf("%s: open %v next %v, want %v %v", c.at.Format("15:04"), open, next, c.open, c.next)
		}
	}
	if open, _ := inWindow(nil, day(3, 0)); !open {
		t.Error("no windows means always")
	}
	if open, _ := inWindow([]Window{{From: 8 * time.Hour, To: 8 * time.Hour}}, day(3, 0)); !open {
		t.Error("a window from a time to the same time is the whole day")
	}
	// Before today's only window: it opens today; after it: tomorrow.
	if _, next := inWindow([]Window{lunch}, day(14, 0)); !next.Equal(time.Date(2026, 11, 24, 12, 0, 0, 0, time.Local)) {
		t.Errorf("next window after lunch: %v", next)
	}
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"22:00-06:00", "12:00 - 13:30", "", "-", "25:00-01:00", "00:00-00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			return
		}
		if w.From < 0 || w.From >= 24*time.Hour || w.To < 0 || w.To >= 24*time.Hour {
			t.Fatalf("%q parsed out of the day: %+v", s, w)
		}
		again, err := ParseWindow(w.String())
		if err != nil || again != w {
			t.Fatalf("%q → %v does not round-trip: %v %v", s, w, again, err)
		}
	})
}

func TestBackoff(t *testing.T) {
	u := NewUploader(nil, nil, Options{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	prev := time.Duration(0)
	for n := 1; n < 200; n++ {
		d := u.backoff(n)
		want := min(50*time.Millisecond<<min(n-1, 20), time.Second)
		if d < want/2 || d > want {
			t.Fatalf("backoff(%d) = %v, want between %v and %v", n, d, want/2, want)
		}
		prev = max(prev, d)
	}
	if prev < time.Second/2 {
		t.Fatalf("backoff never reached the maximum: %v", prev)
	}
}
