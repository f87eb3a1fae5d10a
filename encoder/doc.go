// Package encoder turns captured frames into CMAF tracks: H.264 (x264 or a hardware
// encoder) and AAC-LC through FFmpeg, cut into an init segment and ~2 s media segments on
// the recording's shared timeline.
//
// One Track serves one source stream; its owner calls WriteFrame from a single goroutine
// and reads Stats from any goroutine.
//
// # Caveats
//
// Frames passed to WriteFrame belong to the caller again when it returns: the track
// references what it keeps. h264_vaapi needs hardware frame contexts that go-astiav
// v0.16.0 cannot build, so it is reported as unavailable; NVENC and QSV take system-memory
// frames and are tried when the encoder is "auto".
package encoder
