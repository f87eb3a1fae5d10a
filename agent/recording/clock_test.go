package recording

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	c := newClock(t0)
	c.pause(at(10))
	c.resume(at(13))
	c.pause(at(20))
	c.resume(at(21))
	cases := []struct {
		wall float64
		pos  float64
		ok   bool
	}{
		{-1, 0, false},
		{0, 0, true},
		{9.5, 9.5, true},
		{10, 0, false}, // paused
		{12.9, 0, false},
		{13, 10, true},
		{19, 16, true},
		{20.5, 0, false},
		{21, 17, true},
		{30, 26, true},
	}
	for _, k := range cases {
		pos, ok := c.position(at(k.wall))
		if ok != k.ok || (ok && pos != time.Duration(k.pos*float64(time.Second))) {
			t.Errorf("position(%gs) = %s, %v; want %gs, %v", k.wall, pos, ok, k.pos, k.ok)
		}
	}
	if e := c.elapsed(at(30)); e != 26*time.Second {
		t.Errorf("elapsed = %s, want 26s", e)
	}
	ps := c.manifestPauses()
	if len(ps) != 2 || ps[0].At != 10 || ps[0].Duration != 3 || ps[1].At != 17 || ps[1].Duration != 1 {
		t.Errorf("pauses %+v, want at 10 s for 3 s and at 17 s for 1 s", ps)
	}
	if !c.pause(at(40)) || c.pause(at(41)) {
		t.Error("pause twice should report false the second time")
	}
	if e := c.elapsed(at(50)); e != 36*time.Second {
		t.Errorf("elapsed while paused = %s, want 36s (frozen at the pause)", e)
	}
	if paused, epoch := c.state(); !paused || epoch != 2 {
		t.Errorf("state = %v, %d", paused, epoch)
	}
}

func TestFitWithin(t *testing.T) {
	cases := []struct{ w, h, mw, mh, ww, wh int }{
		{1280, 720, 1920, 1080, 1280, 720},
		{3840, 2160, 1920, 1080, 1920, 1080},
		{2560, 1600, 1920, 1080, 1728, 1080},
		{1920, 1200, 1280, 720, 1152, 720},
		{4000, 1000, 1920, 1080, 1920, 480},
		{1366, 768, 1920, 1080, 1366, 768},
		{1281, 721, 1920, 1080, 1280, 720},
	}
	for _, c := range cases {
		if w, h := fitWithin(c.w, c.h, c.mw, c.mh); w != c.ww || h != c.wh {
			t.Errorf("fitWithin(%d, %d, %d, %d) = %dx%d, want %dx%d", c.w, c.h, c.mw, c.mh, w, h, c.ww, c.wh)
		}
	}
}
