package encoder

// #cgo pkg-config: libavutil
// #include <libavutil/frame.h>
// #include <math.h>
// static float aula_peak_fltp(AVFrame *f) {
//     float peak = 0;
//     int ch = f->ch_layout.nb_channels;
//     for (int c = 0; c < ch && c < AV_NUM_DATA_POINTERS; c++) {
//         const float *s = (const float *)f->extended_data[c];
//         for (int i = 0; i < f->nb_samples; i++) {
//             float v = fabsf(s[i]);
//             if (v > peak) peak = v;
//         }
//     }
//     return peak;
// }
import "C"

import (
	"unsafe"

	"github.com/asticode/go-astiav"
)

// peakFLTP returns the largest absolute sample of a planar float frame (0..1 and above on clipping).
func peakFLTP(f *astiav.Frame) float64 {
	return float64(C.aula_peak_fltp((*C.AVFrame)(unsafe.Pointer(f.UnsafePointer()))))
}
