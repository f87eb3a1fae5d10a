package capture

// avfoundationURL names an AVFoundation device the way FFmpeg's avfoundation input
// wants it, "VIDEO:AUDIO" with "none" for the half not captured. Names are matched as
// prefixes of the devices' names, and screens are called "Capture screen N".
func avfoundationURL(kind Kind, device string) string {
	if kind == KindMicrophone {
		return "none:" + device
	}
	return device + ":none"
}

// avfoundationOptions adds the options of FFmpeg's avfoundation input. It has no audio
// options: a microphone delivers what the device gives.
func (s Spec) avfoundationOptions(o map[string]string) {
	if s.Kind == KindMicrophone {
		return
	}
	s.videoOptions(o)
	if s.Kind == KindScreen {
		o["capture_cursor"] = s.cursorFlag()
	}
	if s.PixelFormat != "" {
		o["pixel_format"] = s.PixelFormat
	}
}
