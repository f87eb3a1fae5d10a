package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aulacapture/aula/agent/recording"
	"github.com/aulacapture/aula/capture"
	"github.com/aulacapture/aula/encoder"
	"github.com/aulacapture/aula/internal/manifest"
)

// specFlag is a flag that may stand alone (--camera) or carry a spec (--camera=/dev/video2).
type specFlag struct {
	kind  capture.Kind
	specs []capture.Spec
	multi bool
}

func (f *specFlag) IsBoolFlag() bool { return true }

func (f *specFlag) String() string {
	if f == nil || len(f.specs) == 0 {
		return ""
	}
	parts := make([]string, len(f.specs))
	for i, s := range f.specs {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

func (f *specFlag) Set(v string) error {
	if v == "true" {
		v = ""
	}
	if v == "false" {
		f.specs = nil
		return nil
	}
	if len(f.specs) > 0 && !f.multi {
		return fmt.Errorf("only one --%s may be given", f.flagName())
	}
	s, err := capture.ParseSpec(f.kind, v)
	if err != nil {
		return err
	}
	f.specs = append(f.specs, s)
	return nil
}

func (f *specFlag) flagName() string {
	if f.kind == capture.KindMicrophone {
		return "mic"
	}
	return string(f.kind)
}

type recordFlags struct {
	screen, camera, mic specFlag
	synthetic           bool
	duration            time.Duration
	out, title          string
	encoder             string
	screenBitrate       int64
	cameraBitrate       int64
	verbose             bool
	srv                 serverFlags
}

func runRecord(ctx context.Context, env Env, args []string) error {
	f := recordFlags{
		screen: specFlag{kind: capture.KindScreen, multi: true},
		camera: specFlag{kind: capture.KindCamera},
		mic:    specFlag{kind: capture.KindMicrophone},
	}
	fs := newFlagSet(env, "record", "record [--screen[=SPEC]] [--camera[=SPEC]] [--mic[=SPEC]] [--synthetic] [--duration D] [--server URL [--server-ca FILE] | --out DIR]")
	fs.Var(&f.screen, "screen", "capture a screen: alone for the default display, or `SPEC` such as :0.0,size=1920x1080,at=0+0,fps=30,cursor=false, or synthetic (repeatable)")
	fs.Var(&f.camera, "camera", "capture a camera: alone for the first one, or `SPEC` such as /dev/video0,size=1280x720,fps=30,format=mjpeg, or synthetic")
	fs.Var(&f.mic, "mic", "capture a microphone: alone for the default one, or `SPEC` such as pulse:NAME, alsa:hw:0,0,rate=48000, or synthetic")
	fs.BoolVar(&f.synthetic, "synthetic", false, "record the synthetic camera and microphone (a test picture with a frame counter, a tone with a click each second)")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (such as 30s or 1h30m); 0 records until Ctrl-C")
	fs.StringVar(&f.out, "out", "", "without --server: write the recording, unencrypted, into `DIR` (default: a new folder under the data directory)")
	fs.StringVar(&f.title, "title", "", "title of the recording")
	fs.StringVar(&f.encoder, "encoder", "auto", "H.264 encoder: auto, libx264, h264_nvenc, h264_qsv or h264_vaapi")
	fs.Int64Var(&f.screenBitrate, "screen-bitrate", 0, "screen bit rate in bit/s (0: by picture size)")
	fs.Int64Var(&f.cameraBitrate, "camera-bitrate", 0, "camera bit rate in bit/s (0: by picture size)")
	fs.BoolVar(&f.verbose, "verbose", false, "log details (chosen encoders, resyncs, uploads)")
	f.srv.register(fs, env, true)
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.synthetic {
		if len(f.camera.specs) == 0 {
			_ = f.camera.Set("synthetic")
		}
		if len(f.mic.specs) == 0 {
			_ = f.mic.Set("synthetic")
		}
	}
	if len(f.screen.specs)+len(f.camera.specs)+len(f.mic.specs) == 0 {
		fmt.Fprintln(env.Stderr, "Nothing to record: name at least one of --screen, --camera, --mic or --synthetic.")
		fs.Usage()
		return ErrUsage
	}
	for i, s := range f.screen.specs {
		f.screen.specs[i] = s.WithDisplay(env.Getenv("DISPLAY"))
	}
	log := newLogger(env.Stderr, f.verbose)
	if f.verbose {
		encoder.LogTo(log)
	}

	if f.srv.server != "" && f.out != "" {
		fmt.Fprintln(env.Stderr, "Give --server (record, seal and upload) or --out (record unencrypted into a folder), not both.")
		return ErrUsage
	}
	opts := recording.Options{
		Title:       f.title,
		Screens:     f.screen.specs,
		Duration:    f.duration,
		Screen:      encoder.Config{Encoder: f.encoder, Bitrate: f.screenBitrate},
		CameraVideo: encoder.Config{Encoder: f.encoder, Bitrate: f.cameraBitrate},
		Log:         log,
	}
	if len(f.camera.specs) > 0 {
		opts.Camera = &f.camera.specs[0]
	}
	if len(f.mic.specs) > 0 {
		opts.Microphone = &f.mic.specs[0]
	}
	if f.srv.server != "" {
		return recordToServer(ctx, env, &f, opts, log)
	}
	return recordToDir(ctx, env, &f, opts)
}

// recordToDir records into a folder, unencrypted, for local use.
func recordToDir(ctx context.Context, env Env, f *recordFlags, opts recording.Options) error {
	dir := f.out
	if dir == "" {
		dir = filepath.Join(f.srv.dataDir(env), "recordings", time.Now().Format("2006-01-02T150405"))
	}
	store, err := recording.NewDirStore(dir)
	if err != nil {
		return outputError(dir, err)
	}
	if free, err := recording.FreeSpace(dir); err == nil && free < uint64(max(f.srv.minFree, 0)) {
		return fmt.Errorf("only %s free on the disk of %s, and a recording needs at least %s: free some space or choose another --out: %w",
			humanBytes(int64(free)), dir, humanBytes(f.srv.minFree), recording.ErrLowDisk)
	}
	if err := checkScreens(ctx, f.screen.specs); err != nil {
		return err
	}
	opts.Store = store
	rec, err := recording.New(opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Recording %s into %s\n", rec.ID(), dir)
	m, err := runRecorder(ctx, env, rec, nil)
	segments := 0
	for _, t := range m.Tracks {
		segments += len(t.Segments)
	}
	if err != nil {
		if !rec.Started() {
			return err
		}
		return recordError(dir, segments, err)
	}
	fmt.Fprintf(env.Stderr, "Recorded %.1f s in %d segments (%s): %s\n", m.Duration(), segments, encoders(rec), dir)
	fmt.Fprintf(env.Stderr, "Play it with: ffplay %s   (or open it in VLC, or any HLS player)\n", filepath.Join(dir, "index.m3u8"))
	fmt.Fprintln(env.Stdout, dir)
	return nil
}

// runRecorder runs rec with the status line and the pause/resume controls, and returns
// its final manifest and error. extra, when set, adds to the status line.
func runRecorder(ctx context.Context, env Env, rec *recording.Recorder, extra func() string) (*manifest.Manifest, error) {
	if env.Interactive {
		fmt.Fprintln(env.Stderr, "Press Ctrl-C to stop; type p and Enter to pause, r and Enter to resume.")
	} else {
		fmt.Fprintln(env.Stderr, "Stop with Ctrl-C or SIGTERM; SIGUSR1 pauses, SIGUSR2 resumes.")
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rec.Run(runCtx) }()
	controls := startControls(runCtx, env, rec, cancel)
	defer controls()
	err := showStatus(env, rec, done, extra)
	return rec.Manifest(), err
}

func encoders(rec *recording.Recorder) string {
	var out []string
	for _, t := range rec.Status().Tracks {
		out = append(out, t.ID+" "+t.Encoder)
	}
	return strings.Join(out, ", ")
}

// startControls lets the person pause and resume: keys on a terminal, signals otherwise.
// The returned function stops listening.
func startControls(ctx context.Context, env Env, rec *recording.Recorder, stop context.CancelFunc) func() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				if s == syscall.SIGUSR1 {
					rec.Pause()
				} else {
					rec.Resume()
				}
			}
		}
	}()
	if env.Interactive && env.Stdin != nil {
		go func() {
			sc := bufio.NewScanner(env.Stdin)
			for sc.Scan() {
				switch strings.TrimSpace(strings.ToLower(sc.Text())) {
				case "p", "pause":
					rec.Pause()
				case "r", "resume":
					rec.Resume()
				case "q", "quit", "stop":
					stop()
					return
				}
			}
		}()
	}
	return func() {
		signal.Stop(sigs)
		cancel()
	}
}

// showStatus prints the live status line until the recording ends, and returns its error.
func showStatus(env Env, rec *recording.Recorder, done <-chan error, extra func() string) error {
	every := time.Second
	if !env.Interactive {
		every = 5 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if env.Interactive {
				fmt.Fprintln(env.Stderr)
			}
			return err
		case <-tick.C:
			line := statusLine(rec.Status())
			if extra != nil {
				line += extra()
			}
			if env.Interactive {
				fmt.Fprintf(env.Stderr, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(env.Stderr, line)
			}
		}
	}
}

// statusLine formats a status as one line: elapsed, per-track fps and drops, audio
// level, bytes written.
func statusLine(st recording.Status) string {
	var b strings.Builder
	state := "REC"
	if st.Paused {
		state = "PAUSED"
	}
	e := st.Elapsed.Round(time.Second)
	fmt.Fprintf(&b, "%s %02d:%02d:%02d", state, int(e.Hours()), int(e.Minutes())%60, int(e.Seconds())%60)
	for _, t := range st.Tracks {
		if t.Kind == "audio" {
			level := "-inf"
			if !math.IsInf(t.PeakDBFS, -1) {
				level = fmt.Sprintf("%.1f", t.PeakDBFS)
			}
			fmt.Fprintf(&b, " | %s %s dBFS", t.ID, level)
			continue
		}
		fmt.Fprintf(&b, " | %s %.1f fps %d dropped", t.ID, t.FPS, t.Dropped)
	}
	fmt.Fprintf(&b, " | %s", humanBytes(st.Bytes))
	return b.String()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// outputError explains why the output directory cannot be used.
func outputError(dir string, err error) error {
	switch {
	case errors.Is(err, recording.ErrNotWritable):
		return fmt.Errorf("cannot write to %s (%s): choose another --out or fix its permissions: %w", dir, cause(err), recording.ErrNotWritable)
	case errors.Is(err, recording.ErrExists):
		return fmt.Errorf("%s already holds a recording: choose an empty --out so nothing is overwritten: %w", dir, recording.ErrExists)
	case errors.Is(err, recording.ErrDiskFull):
		return fmt.Errorf("the disk of %s is full: free some space or choose another --out: %w", dir, recording.ErrDiskFull)
	}
	return fmt.Errorf("cannot use %s for the recording: %w", dir, err)
}

// recordError explains a recording that stopped on an error, and what was kept.
func recordError(dir string, segments int, err error) error {
	kept := fmt.Sprintf("the %d segments written before stay valid and play from %s", segments, filepath.Join(dir, "index.m3u8"))
	if segments == 0 {
		kept = "no segment had been completed"
	}
	if errors.Is(err, recording.ErrDiskFull) {
		return fmt.Errorf("the disk of %s filled up, so the recording stopped: free some space or record to another --out; %s: %w", dir, kept, recording.ErrDiskFull)
	}
	return fmt.Errorf("%w; %s", err, kept)
}

// cause is the system's own words for err ("read-only file system").
func cause(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}
