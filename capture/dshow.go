package capture

// dshowURL names a DirectShow device the way FFmpeg's dshow input wants it:
// "video=NAME" or "audio=NAME".
func dshowURL(kind Kind, device string) string {
	if kind == KindMicrophone {
		return "audio=" + device
	}
	return "video=" + device
}

// dshowOptions adds the options of FFmpeg's DirectShow input.
func (s Spec) dshowOptions(o map[string]string) {
	if s.Kind == KindMicrophone {
		s.audioOptions(o)
		return
	}
	s.videoOptions(o)
	switch s.PixelFormat {
	case "":
	case "mjpeg", "h264":
		// dshow asks for compressed streams by codec, not by pixel format.
		o["vcodec"] = s.PixelFormat
	default:
		o["pixel_format"] = s.PixelFormat
	}
}
