// Package hls writes HLS playlists (RFC 8216) for recordings stored as CMAF tracks: one
// media playlist per track and a master playlist that ties video and audio together.
// It formats only; where the segments live is the caller's business.
package hls

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aulacapture/aula/internal/manifest"
)

// URLs says how playlists name their segments; the functions get the track and, for
// media segments, the sequence number.
type URLs struct {
	// Init names a track's init segment relative to its media playlist.
	Init func(track string) string
	// Segment names a media segment relative to its media playlist.
	Segment func(track string, seq int) string
	// Media names a track's media playlist relative to the master playlist.
	Media func(track string) string
}

// FileURLs is the layout of a recording directory: TRACK/init.mp4, TRACK/NNNNNN.m4s and
// TRACK/index.m3u8 beside the master playlist.
func FileURLs() URLs {
	return URLs{
		Init:    func(string) string { return "init.mp4" },
		Segment: func(_ string, seq int) string { return SegmentName(seq) },
		Media:   func(track string) string { return track + "/index.m3u8" },
	}
}

// SegmentName is the file name of media segment seq in a recording directory.
func SegmentName(seq int) string { return fmt.Sprintf("%06d.m4s", seq) }

// WriteMedia writes the media playlist of one track. While the recording runs (final
// false) it is an EVENT playlist that players re-read; when final it is a VOD playlist
// with an end tag.
//
// target is the EXT-X-TARGETDURATION to declare (0: the longest segment's). A playlist
// that is rewritten as segments arrive must keep its target (RFC 8216 §6.2.1), so give
// one that every segment will fit: a segment longer than the target raises it anyway,
// since the alternative is a playlist that breaks §4.3.3.1.
func WriteMedia(w io.Writer, t manifest.Track, final bool, target time.Duration, urls URLs) error {
	durations := make([]string, len(t.Segments))
	tgt := max(int(math.Round(target.Seconds())), 1)
	for i, s := range t.Segments {
		durations[i] = strconv.FormatFloat(s.Duration, 'f', 5, 64)
		// §4.3.3.1: each EXTINF, as written and rounded to the nearest integer, must not
		// exceed the target.
		written, _ := strconv.ParseFloat(durations[i], 64)
		tgt = max(tgt, int(math.Round(written)))
	}
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", tgt)
	if final {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	} else {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n")
	}
	b.WriteString("#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=%q\n", urls.Init(t.ID))
	for i, s := range t.Segments {
		fmt.Fprintf(&b, "#EXTINF:%s,\n%s\n", durations[i], urls.Segment(t.ID, s.Seq))
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMaster writes the master playlist. Screen and camera are different pictures, not
// versions of one, so they are not variants a player may switch between by bandwidth:
// the first video track (a screen if there is one) is the one variant stream, and every
// video track is a rendition of its VIDEO group, the way HLS offers camera angles. The
// audio track is the variant's AUDIO group. A recording with only audio gets the audio
// track as its variant.
func WriteMaster(w io.Writer, m *manifest.Manifest, urls URLs) error {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	var audio *manifest.Track
	var videos []manifest.Track
	for _, kind := range []manifest.Kind{manifest.KindScreen, manifest.KindCamera} {
		for _, t := range m.Tracks {
			if t.Kind == kind {
				videos = append(videos, t)
			}
		}
	}
	for i := range m.Tracks {
		if m.Tracks[i].Kind == manifest.KindAudio {
			audio = &m.Tracks[i]
			break
		}
	}
	if len(videos) == 0 {
		if audio != nil {
			fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=%q\n%s\n", max(audio.Bandwidth, 1), audio.Codec, urls.Media(audio.ID))
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	main := videos[0]
	bw := int64(1)
	// CODECS names every format in any rendition of the variant (RFC 8216 §4.3.4.2).
	var codecList []string
	for _, t := range videos {
		if !slices.Contains(codecList, t.Codec) {
			codecList = append(codecList, t.Codec)
		}
	}
	codecs := strings.Join(codecList, ",")
	groups := ""
	if len(videos) > 1 {
		for i, t := range videos {
			// DEFAULT=YES without URI: the variant's own playlist (RFC 8216 §4.3.4.1).
			if i == 0 {
				fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID=\"video\",NAME=%q,DEFAULT=YES,AUTOSELECT=YES\n", t.ID)
			} else {
				fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID=\"video\",NAME=%q,DEFAULT=NO,AUTOSELECT=NO,URI=%q\n", t.ID, urls.Media(t.ID))
			}
		}
		groups += ",VIDEO=\"video\""
	}
	for _, t := range videos {
		bw = max(bw, t.Bandwidth)
	}
	if audio != nil {
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=%q,DEFAULT=YES,AUTOSELECT=YES,URI=%q\n",
			audio.ID, urls.Media(audio.ID))
		bw += audio.Bandwidth
		codecs += "," + audio.Codec
		groups += ",AUDIO=\"audio\""
	}
	fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=%q", bw, codecs)
	if main.Width > 0 && main.Height > 0 {
		fmt.Fprintf(&b, ",RESOLUTION=%dx%d", main.Width, main.Height)
	}
	fmt.Fprintf(&b, "%s\n%s\n", groups, urls.Media(main.ID))
	_, err := io.WriteString(w, b.String())
	return err
}
