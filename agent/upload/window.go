package upload

import (
	"fmt"
	"strings"
	"time"
)

// Window is a time of day when uploads may run, in local time, such as 22:00-06:00
// (crossing midnight) or 12:00-13:30. From equal to To means the whole day.
type Window struct {
	From, To time.Duration // since midnight
}

// ParseWindow parses "HH:MM-HH:MM".
func ParseWindow(s string) (Window, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Window{}, fmt.Errorf("upload window %q: want HH:MM-HH:MM, such as 22:00-06:00", s)
	}
	f, err := parseClock(from)
	if err != nil {
		return Window{}, fmt.Errorf("upload window %q: %w", s, err)
	}
	t, err := parseClock(to)
	if err != nil {
		return Window{}, fmt.Errorf("upload window %q: %w", s, err)
	}
	return Window{From: f, To: t}, nil
}

func parseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day such as 06:00", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

func (w Window) String() string {
	f := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return f(w.From) + "-" + f(w.To)
}

// contains reports whether the time of day d falls in w.
func (w Window) contains(d time.Duration) bool {
	switch {
	case w.From == w.To:
		return true
	case w.From < w.To:
		return d >= w.From && d < w.To
	}
	return d >= w.From || d < w.To
}

// inWindow reports whether t is inside one of ws (always, when there are none) and
// otherwise when the next window opens.
func inWindow(ws []Window, t time.Time) (bool, time.Time) {
	if len(ws) == 0 {
		return true, time.Time{}
	}
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	d := t.Sub(midnight)
	var next time.Time
	for _, w := range ws {
		if w.contains(d) {
			return true, time.Time{}
		}
		open := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location()).Add(w.From)
		if !open.After(t) {
			open = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location()).Add(w.From)
		}
		if next.IsZero() || open.Before(next) {
			next = open
		}
	}
	return false, next
}
