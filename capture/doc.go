// Package capture finds the screens, cameras and microphones of this machine and names
// them in specs that FFmpeg's avdevice inputs (x11grab, v4l2, pulse, alsa, gdigrab, dshow,
// avfoundation) or a synthetic lavfi source can open.
//
// Specs, discovery and per-OS defaults are pure Go; opening a spec through FFmpeg needs cgo.
package capture
