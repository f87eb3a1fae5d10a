package capture

import "strconv"

// gdigrabOptions adds the options of FFmpeg's Windows screen input. gdigrab takes the
// region offset as options, not in its URL.
func (s Spec) gdigrabOptions(o map[string]string) {
	s.videoOptions(o)
	if s.X != 0 || s.Y != 0 {
		o["offset_x"] = strconv.Itoa(s.X)
		o["offset_y"] = strconv.Itoa(s.Y)
	}
	o["draw_mouse"] = s.cursorFlag()
}
