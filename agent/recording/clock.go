package recording

import (
	"sync"
	"time"

	"github.com/aulacapture/aula/internal/manifest"
)

// clock is the recording's one timeline: wall-clock time since the start, less the time
// spent paused. Every track maps its frames through it, so tracks stay in step.
type clock struct {
	mu       sync.Mutex
	start    time.Time
	pauses   []span // closed pauses, in order
	pausedAt time.Time
	paused   bool
	epoch    int // counts resumes, so tracks can force a keyframe after each
}

type span struct{ from, to time.Time }

func newClock(start time.Time) *clock { return &clock{start: start} }

// position maps a wall-clock instant onto the timeline; ok is false for instants before
// the start or inside a pause.
func (c *clock) position(wall time.Time) (pos time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if wall.Before(c.start) {
		return 0, false
	}
	if c.paused && !wall.Before(c.pausedAt) {
		return 0, false
	}
	var skipped time.Duration
	for _, p := range c.pauses {
		if wall.Before(p.from) {
			break
		}
		if wall.Before(p.to) {
			return 0, false
		}
		skipped += p.to.Sub(p.from)
	}
	return wall.Sub(c.start) - skipped, true
}

// pause stops the timeline at now; it reports false when already paused.
func (c *clock) pause(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		return false
	}
	c.paused, c.pausedAt = true, now
	return true
}

// resume restarts the timeline at now; it reports false when not paused.
func (c *clock) resume(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		return false
	}
	c.paused = false
	c.pauses = append(c.pauses, span{c.pausedAt, now})
	c.epoch++
	return true
}

// state reports whether the timeline is paused and how many resumes there were.
func (c *clock) state() (paused bool, epoch int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused, c.epoch
}

// elapsed is the timeline position of now.
func (c *clock) elapsed(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		now = c.pausedAt
	}
	d := now.Sub(c.start)
	for _, p := range c.pauses {
		d -= p.to.Sub(p.from)
	}
	return max(d, 0)
}

// manifestPauses lists the closed pauses for the manifest.
func (c *clock) manifestPauses() []manifest.Pause {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]manifest.Pause, 0, len(c.pauses))
	var skipped time.Duration // paused before this pause
	for _, p := range c.pauses {
		out = append(out, manifest.Pause{
			At:        (p.from.Sub(c.start) - skipped).Seconds(),
			StartedAt: p.from.UTC(),
			Duration:  p.to.Sub(p.from).Seconds(),
		})
		skipped += p.to.Sub(p.from)
	}
	return out
}
