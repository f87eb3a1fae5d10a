package media_test

import (
	"fmt"
	"log"
	"os"

	"github.com/aulacapture/aula/server/media"
)

func Example() {
	// The server opened these from sealed uploads; here they come from testdata.
	initData, err := os.ReadFile("testdata/h264_init.mp4")
	if err != nil {
		log.Fatal(err)
	}
	segment, err := os.ReadFile("testdata/h264_seg1.m4s")
	if err != nil {
		log.Fatal(err)
	}

	init, err := media.ParseInit(initData)
	if err != nil {
		log.Fatal(err) // a 422 for the uploader, naming the reason
	}
	if err := media.CheckCodec(init, "avc1.64000d"); err != nil {
		log.Fatal(err)
	}
	frag, err := media.ParseFragment(init, segment)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s %dx%d\n", init.Kind, init.Codec, init.Width, init.Height)
	fmt.Printf("starts at %.3f s, lasts %.3f s, %d samples, keyframe first: %v\n",
		float64(frag.BaseTime)/float64(init.Timescale), float64(frag.Duration)/float64(init.Timescale),
		frag.Samples, frag.StartsWithKeyframe)
	// Output:
	// video avc1.64000d 320x240
	// starts at 2.000 s, lasts 2.000 s, 60 samples, keyframe first: true
}
