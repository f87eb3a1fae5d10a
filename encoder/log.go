package encoder

import (
	"context"
	"log/slog"
	"strings"

	"github.com/asticode/go-astiav"
)

// LogTo sends FFmpeg's own messages (from capture and encoding alike) to log: errors as
// errors, warnings as warnings, the rest as debug. FFmpeg has one log for the whole
// process, so this is set once, by the program's main path.
func LogTo(log *slog.Logger) {
	astiav.SetLogLevel(astiav.LogLevelInfo)
	astiav.SetLogCallback(func(c astiav.Classer, l astiav.LogLevel, _, msg string) {
		msg = strings.TrimSpace(msg)
		if msg == "" {
			return
		}
		level := slog.LevelDebug
		switch {
		case l <= astiav.LogLevelError:
			level = slog.LevelError
		case l <= astiav.LogLevelWarning:
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{}
		if c != nil {
			if cl := c.Class(); cl != nil {
				attrs = append(attrs, slog.String("component", cl.Name()))
			}
		}
		log.LogAttrs(context.Background(), level, "ffmpeg: "+msg, attrs...)
	})
}
