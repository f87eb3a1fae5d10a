// Package media validates the CMAF (fragmented MP4) that agents upload, after the server
// has opened the sealed bytes and before it commits anything: an init segment must be one
// H.264 or AAC-LC track, and each media segment must be well-formed fragments of that track.
//
// It parses with github.com/Eyevinn/mp4ff (pure Go) and never follows a reference: a data
// reference to anything but the file itself is refused (SECURITY.md §18), and nothing is
// read beyond the bytes given.
//
// # Caveats
//
// Validation is structural. Samples are checked down to their H.264 NAL unit framing, not
// decoded, so a segment that passes may still show garbage; it cannot make the server
// read, fetch or allocate beyond the limits below.
//
// Build an Init with ParseInit rather than by hand: ParseFragment relies on every field,
// including the trex defaults that fragments may leave out.
package media

// Limits on what the server accepts, chosen well above what an agent makes (an init of
// about 1 KB; ~2 s segments of up to a few MB at 4K screen-capture bitrates).
const (
	// MaxInitSize caps an init segment in bytes.
	MaxInitSize = 1 << 20
	// MaxFragmentSize caps a media segment in bytes.
	MaxFragmentSize = 64 << 20
	// MaxSamples caps the samples in one media segment (60 s of 1000 fps video).
	MaxSamples = 60_000
	// MaxDurationSeconds caps the duration of one media segment.
	MaxDurationSeconds = 60
	// MaxDimension caps a video track's width and height in pixels.
	MaxDimension = 16384
)
