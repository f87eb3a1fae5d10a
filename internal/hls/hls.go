// Package hls writes HLS playlists (RFC 8216) for recordings stored as CMAF tracks: one
// media playlist per track and a master playlist that ties video and audio together.
// It formats only; where the segments live is the caller's business.
package hls

import (
	"fmt"
	"io"
	"math"
	"strings"

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
func WriteMedia(w io.Writer, t manifest.Track, final bool, urls URLs) error {
	target := 1
	for _, s := range t.Segments {
		// RFC 8216 §4.3.3.1: EXTINF rounded to the nearest integer must not exceed the target.
		target = max(target, int(math.Round(s.Duration)))
	}
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", target)
	if final {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	} else {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n")
	}
	b.WriteString("#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=%q\n", urls.Init(t.ID))
	for _, s := range t.Segments {
		fmt.Fprintf(&b, "#EXTINF:%.5f,\n%s\n", s.Duration, urls.Segment(t.ID, s.Seq))
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMaster writes the master playlist: every video track as a variant stream (screen
// first), each with the recording's audio as its audio group. A recording with only
// audio gets the audio track as its one variant.
func WriteMaster(w io.Writer, m *manifest.Manifest, urls URLs) error {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	var audio *manifest.Track
	for i := range m.Tracks {
		if m.Tracks[i].Kind == manifest.KindAudio {
			audio = &m.Tracks[i]
			break
		}
	}
	if audio != nil {
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=%q,DEFAULT=YES,AUTOSELECT=YES,URI=%q\n",
			audio.ID, urls.Media(audio.ID))
	}
	variants := 0
	for _, kind := range []manifest.Kind{manifest.KindScreen, manifest.KindCamera} {
		for _, t := range m.Tracks {
			if t.Kind != kind {
				continue
			}
			bw := max(t.Bandwidth, 1)
			codecs := t.Codec
			extra := ""
			if audio != nil {
				bw += audio.Bandwidth
				codecs += "," + audio.Codec
				extra = ",AUDIO=\"audio\""
			}
			fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=%q", bw, codecs)
			if t.Width > 0 && t.Height > 0 {
				fmt.Fprintf(&b, ",RESOLUTION=%dx%d", t.Width, t.Height)
			}
			fmt.Fprintf(&b, ",NAME=%q%s\n%s\n", t.ID, extra, urls.Media(t.ID))
			variants++
		}
	}
	if variants == 0 && audio != nil {
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=%q\n%s\n", max(audio.Bandwidth, 1), audio.Codec, urls.Media(audio.ID))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
