package capture

import (
	"fmt"
	"strings"
)

// Synthetic pictures carry a machine-readable frame counter: a strip of BarcodeBits
// cells along the bottom edge, least significant bit on the left, white for 1 and black
// for 0, framed by a white start cell and a black end cell. Each cell is
// BarcodeCell(height) pixels square. Every FlashEvery-th frame (one per second) is white
// all over, and the synthetic audio carries a click (ClickDuration of a ClickHz tone)
// at every whole second, so flash and click mark the same instants.
const (
	BarcodeBits   = 20
	FlashHz       = 1
	ClickHz       = 2000
	ClickDuration = 0.010 // seconds
	ToneHz        = 440
)

// BarcodeCell is the side of one barcode cell for a picture of the given height.
func BarcodeCell(height int) int {
	return max(height/30, 8)
}

// syntheticVideo returns the lavfi chain for one synthetic picture: a moving test pattern
// with the wall-clock time printed for people and the frame counter coded for programs,
// paced in real time.
func syntheticVideo(s Spec) string {
	w, h, fps := s.Width, s.Height, s.FPS
	cell := BarcodeCell(h)
	y := h - cell
	var b strings.Builder
	fmt.Fprintf(&b, "testsrc2=size=%dx%d:rate=%d", w, h, fps)
	fmt.Fprintf(&b, ",drawtext=text='%%{localtime}  %s %%{n}':fontsize=%d:fontcolor=white:box=1:boxcolor=black@0.6:x=%d:y=%d",
		strings.ToUpper(string(s.Kind)), max(h/24, 12), cell, cell)
	fmt.Fprintf(&b, ",drawbox=x=0:y=%d:w=%d:h=%d:color=black:t=fill", y, (BarcodeBits+2)*cell, cell)
	fmt.Fprintf(&b, ",drawbox=x=0:y=%d:w=%d:h=%d:color=white:t=fill", y, cell, cell)
	for bit := 0; bit < BarcodeBits; bit++ {
		fmt.Fprintf(&b, ",drawbox=x=%d:y=%d:w=%d:h=%d:color=white:t=fill:enable='gte(mod(n,%d),%d)'",
			(bit+1)*cell, y, cell, cell, 1<<(bit+1), 1<<bit)
	}
	// The flash covers the picture but not the barcode, so every frame stays readable.
	fmt.Fprintf(&b, ",drawbox=x=0:y=0:w=%d:h=%d:color=white:t=fill:enable='eq(mod(n,%d),0)'", w, y, fps/FlashHz)
	// Generating the encoder's format directly spares a conversion per frame.
	b.WriteString(",format=yuv420p,realtime")
	return b.String()
}

// syntheticAudio returns the lavfi chain for the synthetic microphone: a quiet tone with
// a loud click at each whole second, paced in real time.
func syntheticAudio(s Spec) string {
	rate, ch := s.SampleRate, s.Channels
	layout := "mono"
	if ch == 2 {
		layout = "stereo"
	}
	expr := fmt.Sprintf("0.1*sin(2*PI*%d*t)+lt(mod(t,1),%g)*0.8*sin(2*PI*%d*t)", ToneHz, ClickDuration, ClickHz)
	if ch == 2 {
		expr += "|" + expr
	}
	return fmt.Sprintf("aevalsrc=exprs='%s':s=%d:c=%s:n=1024,arealtime", expr, rate, layout)
}

// SyntheticGraph builds the lavfi input that plays all the given synthetic specs from
// one clock, so a synthetic camera and microphone opened together are in sync by
// construction. Output i carries specs[i].
func SyntheticGraph(specs []Spec) (string, error) {
	parts := make([]string, 0, len(specs))
	for i, s := range specs {
		if !s.Synthetic() {
			return "", fmt.Errorf("%s spec %q is not synthetic: %w", s.Kind, s.String(), ErrBadSpec)
		}
		s = s.withSyntheticDefaults()
		chain := syntheticVideo(s)
		if s.Kind == KindMicrophone {
			chain = syntheticAudio(s)
		}
		parts = append(parts, fmt.Sprintf("%s[out%d]", chain, i))
	}
	return strings.Join(parts, ";"), nil
}

// withSyntheticDefaults fills the sizes and rates a synthetic source needs.
func (s Spec) withSyntheticDefaults() Spec {
	switch s.Kind {
	case KindScreen:
		if s.Width == 0 {
			s.Width, s.Height = 1920, 1080
		}
	case KindCamera:
		if s.Width == 0 {
			s.Width, s.Height = 1280, 720
		}
	case KindMicrophone:
		if s.SampleRate == 0 {
			s.SampleRate = 48000
		}
		if s.Channels == 0 {
			s.Channels = 1
		}
	}
	if s.FPS == 0 {
		s.FPS = 30
	}
	return s
}
