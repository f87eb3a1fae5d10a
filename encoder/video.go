package encoder

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/asticode/go-astiav"
)

// hardwareEncoders are tried in this order when the encoder is "auto".
var hardwareEncoders = []string{"h264_nvenc", "h264_qsv", "h264_vaapi"}

// openH264 opens the configured H.264 encoder, or on "auto" the first hardware encoder
// that opens and else libx264, and logs which one it chose. It returns the encoder, its
// name and the pixel format it wants.
func openH264(cfg Config, w, h int, bitrate int64, tb astiav.Rational, log *slog.Logger) (*astiav.CodecContext, string, astiav.PixelFormat, error) {
	candidates := []string{cfg.Encoder}
	if cfg.Encoder == "auto" {
		candidates = append(append([]string{}, hardwareEncoders...), "libx264")
	}
	var errs []error
	for _, name := range candidates {
		enc, pf, err := openH264Named(name, cfg, w, h, bitrate, tb)
		if err == nil {
			log.Info("video encoder chosen", "encoder", name, "size", strconv.Itoa(w)+"x"+strconv.Itoa(h), "bitrate", bitrate)
			return enc, name, pf, nil
		}
		log.Debug("video encoder unavailable", "encoder", name, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return nil, "", 0, fmt.Errorf("h264 %dx%d: %w: %w", w, h, ErrNoEncoder, errors.Join(errs...))
}

func openH264Named(name string, cfg Config, w, h int, bitrate int64, tb astiav.Rational) (*astiav.CodecContext, astiav.PixelFormat, error) {
	pf := astiav.PixelFormatYuv420P
	switch name {
	case "h264_vaapi":
		// VAAPI takes only frames in GPU memory, and go-astiav v0.16.0 cannot make the
		// hardware frames context those need.
		return nil, 0, errors.New("needs VAAPI hardware frames, which this build cannot create")
	case "h264_qsv":
		pf = astiav.PixelFormatNv12
	case "h264_nvenc":
		if _, err := os.Stat("/dev/nvidiactl"); err != nil {
			// Opening NVENC without a driver takes seconds of dlopen failures; skip it.
			return nil, 0, errors.New("no NVIDIA device")
		}
	}
	codec := astiav.FindEncoderByName(name)
	if codec == nil {
		return nil, 0, errors.New("not in this FFmpeg build")
	}
	cc := astiav.AllocCodecContext(codec)
	cc.SetWidth(w)
	cc.SetHeight(h)
	cc.SetPixelFormat(pf)
	cc.SetTimeBase(tb)
	cc.SetFramerate(astiav.NewRational(cfg.FPS, 1))
	cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	cc.SetBitRate(bitrate)
	// A keyframe interval well past the segment length: IDRs are forced on the segment
	// grid, this only bounds the damage if a source stalls.
	gop := cfg.FPS * int(2*cfg.SegmentDuration.Seconds())
	cc.SetGopSize(gop)
	// Global header: the mp4 init segment needs SPS/PPS in avcC; repeat-headers keeps them
	// in band before every IDR too, for live viewers that join mid-stream.
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	opts := astiav.NewDictionary()
	defer opts.Free()
	set := func(k, v string) { _ = opts.Set(k, v, 0) }
	set("bf", "0")
	set("maxrate", strconv.FormatInt(bitrate*3/2, 10))
	set("bufsize", strconv.FormatInt(bitrate*2, 10))
	switch name {
	case "libx264":
		set("preset", "veryfast")
		set("tune", "zerolatency")
		set("forced-idr", "1")
		set("x264-params", "scenecut=0:open-gop=0:repeat-headers=1:min-keyint="+strconv.Itoa(gop))
	case "h264_nvenc":
		set("preset", "p4")
		set("tune", "ll")
		set("forced-idr", "1")
		set("zerolatency", "1")
	case "h264_qsv":
		set("preset", "veryfast")
		set("forced_idr", "1")
	}
	if err := cc.Open(codec, opts); err != nil {
		cc.Free()
		return nil, 0, fmt.Errorf("open: %w", err)
	}
	return cc, pf, nil
}

// avcCodecString gives "avc1.PPCCLL" from an avcC record (or Annex-B SPS) in extradata.
func avcCodecString(extra []byte) string {
	if len(extra) >= 4 && extra[0] == 1 {
		return fmt.Sprintf("avc1.%02x%02x%02x", extra[1], extra[2], extra[3])
	}
	// Annex B: find the SPS NAL unit (type 7).
	for i := 0; i+4 < len(extra); i++ {
		if extra[i] == 0 && extra[i+1] == 0 && extra[i+2] == 1 && extra[i+3]&0x1f == 7 && i+6 < len(extra) {
			return fmt.Sprintf("avc1.%02x%02x%02x", extra[i+4], extra[i+5], extra[i+6])
		}
	}
	return "avc1.640028"
}
