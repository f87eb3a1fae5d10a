package hls_test

import (
	"fmt"
	"os"

	"github.com/aulacapture/aula/internal/hls"
	"github.com/aulacapture/aula/internal/manifest"
)

func ExampleWriteMedia() {
	t := manifest.Track{ID: "camera", Kind: manifest.KindCamera, Codec: "avc1.64001f", Segments: []manifest.Segment{
		{Seq: 1, Start: 0, Duration: 2, Size: 1000},
		{Seq: 2, Start: 2, Duration: 1.5, Size: 800},
	}}
	if err := hls.WriteMedia(os.Stdout, t, true, 0, hls.FileURLs()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// #EXTM3U
	// #EXT-X-VERSION:7
	// #EXT-X-TARGETDURATION:2
	// #EXT-X-PLAYLIST-TYPE:VOD
	// #EXT-X-MEDIA-SEQUENCE:1
	// #EXT-X-INDEPENDENT-SEGMENTS
	// #EXT-X-MAP:URI="init.mp4"
	// #EXTINF:2.00000,
	// 000001.m4s
	// #EXTINF:1.50000,
	// 000002.m4s
	// #EXT-X-ENDLIST
}

func ExampleWriteMaster() {
	m := &manifest.Manifest{Tracks: []manifest.Track{
		{ID: "camera", Kind: manifest.KindCamera, Codec: "avc1.64001f", Width: 1280, Height: 720, Bandwidth: 2_500_000},
		{ID: "audio", Kind: manifest.KindAudio, Codec: "mp4a.40.2", Bandwidth: 128_000},
	}}
	if err := hls.WriteMaster(os.Stdout, m, hls.FileURLs()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// #EXTM3U
	// #EXT-X-VERSION:7
	// #EXT-X-INDEPENDENT-SEGMENTS
	// #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,URI="audio/index.m3u8"
	// #EXT-X-STREAM-INF:BANDWIDTH=2628000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,AUDIO="audio"
	// camera/index.m3u8
}

func ExampleSegmentName() {
	fmt.Println(hls.SegmentName(1), hls.SegmentName(1234567))
	// Output: 000001.m4s 1234567.m4s
}
