package alert

import "time"

// Threshold is Count events within Window.
type Threshold struct {
	Count  int
	Window time.Duration
}

// bursts counts events per key and says when a key's events first reach the
// threshold: once per burst. A key is re-armed when a whole window passes without an
// event for it.
type bursts struct {
	th Threshold
	m  map[string]*burst
}

type burst struct {
	times []time.Time // the newest events within the window, at most th.Count
	fired bool
}

func newBursts(th Threshold) *bursts { return &bursts{th: th, m: map[string]*burst{}} }

// add counts an event for key at at and reports how many fall within the window and
// whether this one completes a burst.
func (b *bursts) add(key string, at time.Time) (n int, fire bool) {
	s := b.m[key]
	if s == nil {
		s = &burst{}
		b.m[key] = s
	}
	if len(s.times) > 0 {
		last := s.times[len(s.times)-1]
		if at.Before(last) {
			at = last // events of concurrent requests arrive a little out of order
		}
		if at.Sub(last) >= b.th.Window {
			s.times, s.fired = s.times[:0], false
		}
	}
	s.times = append(s.times, at)
	cut := 0
	for cut < len(s.times) && at.Sub(s.times[cut]) >= b.th.Window {
		cut++
	}
	if over := len(s.times) - cut - b.th.Count; over > 0 {
		cut += over // only whether Count is reached matters
	}
	s.times = append(s.times[:0], s.times[cut:]...)
	if !s.fired && len(s.times) >= b.th.Count {
		s.fired = true
		return len(s.times), true
	}
	return len(s.times), false
}

// sweep forgets the keys quiet for a whole window before now, which add would re-arm.
func (b *bursts) sweep(now time.Time) {
	for k, s := range b.m {
		if len(s.times) == 0 || now.Sub(s.times[len(s.times)-1]) >= b.th.Window {
			delete(b.m, k)
		}
	}
}
