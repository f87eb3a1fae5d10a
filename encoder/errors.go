package encoder

import "errors"

var (
	// ErrFFmpeg reports that FFmpeg failed in a way it did not explain with an error code.
	ErrFFmpeg = errors.New("ffmpeg failed")
	// ErrNoEncoder reports that no usable encoder for the codec could be opened.
	ErrNoEncoder = errors.New("no usable encoder")
	// ErrClosed reports use of a track after Close.
	ErrClosed = errors.New("track closed")
	// ErrBadConfig reports a configuration value that cannot work.
	ErrBadConfig = errors.New("bad encoder configuration")
)
