package media

import (
	"fmt"
	"strings"
)

// CheckCodec compares the codec string a manifest declares with the init segment's. For
// H.264 the sample entry (avc1 or avc3) and the profile, constraint and level bytes must
// match exactly (hex digits in either case); for audio the declaration must be
// "mp4a.40.2" (AAC-LC). It returns ErrCodecMismatch naming both strings.
func CheckCodec(init Init, declared string) error {
	ok := false
	switch init.Kind {
	case KindVideo:
		ok = len(init.Codec) > 5 && len(declared) == len(init.Codec) &&
			declared[:5] == init.Codec[:5] && strings.EqualFold(declared[5:], init.Codec[5:])
	case KindAudio:
		ok = declared == "mp4a.40.2" && init.Codec == declared
	}
	if !ok {
		return fmt.Errorf("%w: declared %q, init segment has %q", ErrCodecMismatch, declared, init.Codec)
	}
	return nil
}
