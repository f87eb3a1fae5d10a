package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/aulacapture/aula/agent/spool"
)

// Options configures an Uploader; a zero field means its default.
type Options struct {
	// Parallel is how many segments are uploaded at once (default 4).
	Parallel int
	// BytesPerSecond caps the upload rate over all uploads; zero means no cap.
	BytesPerSecond int64
	// Windows are the times of day when uploads may run (local time); none means any time.
	Windows []Window
	// MinBackoff and MaxBackoff bound the wait after a failure (default 1 s and 5 min);
	// the wait doubles with each failure in a row, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// Log receives what the uploader does; nil discards it.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Uploader drains a spool to the server: every sealed segment is uploaded once and
// acknowledged in the spool only when the server answered 2xx with its digest; finished
// recordings are completed. Run it while recording, or Drain a backlog.
type Uploader struct {
	sp   *spool.Spool
	c    *Client
	o    Options
	lim  *rate.Limiter
	log  *slog.Logger
	wake chan struct{}
	// finish turns Run into Drain.
	finish atomic.Bool

	mu         sync.Mutex
	recs       map[string]*recState
	notBefore  map[uint64]time.Time // per item, after a failure it alone had
	failures   int                  // failures in a row, for the shared backoff
	pauseUntil time.Time
	lastErr    string
	lastErrAt  time.Time
	fatal      error // stops Drain: the certificate, the token
	inflight   map[uint64]int64
	meter      meter
	sentBytes  int64
	sentItems  int
	skipped    int // acked from the server's manifest without sending

	lastComplete time.Time // run's goroutine only
}

// recState is what this process knows of a recording on the server.
type recState struct {
	announced bool
	ready     []string          // ready tracks when last announced
	held      map[string]string // "track/seq" → digest the server held when first asked
	inits     map[string]bool   // tracks whose init the server holds
	completed bool
	// retryAt holds the recording back after a failed announcement or completion.
	retryAt time.Time
}

// NewUploader makes an uploader of sp's segments to c.
func NewUploader(sp *spool.Spool, c *Client, o Options) *Uploader {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u := &Uploader{sp: sp, c: c, o: o, log: o.Log, wake: make(chan struct{}, 1),
		recs: map[string]*recState{}, notBefore: map[uint64]time.Time{}, inflight: map[uint64]int64{}}
	if o.BytesPerSecond > 0 {
		burst := int(min(max(o.BytesPerSecond/4, 16<<10), 1<<20))
		u.lim = rate.NewLimiter(rate.Limit(o.BytesPerSecond), burst)
	}
	return u
}

// Notify tells the uploader that the spool has something new (a sealed segment, a
// finished recording); it looks at once instead of at its next poll.
func (u *Uploader) Notify() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Run uploads until ctx ends, waiting for new segments when the queue is empty. It
// returns ctx's error; failures are retried and reported in Status. After Finish it
// returns as Drain does.
func (u *Uploader) Run(ctx context.Context) error { return u.run(ctx, false) }

// Finish turns a running Run into a Drain: it returns once everything is uploaded (or on
// an error retrying cannot cure).
func (u *Uploader) Finish() {
	u.finish.Store(true)
	u.Notify()
}

// Drain uploads until every segment is acked and every recording that is not being
// recorded is complete on the server, and returns nil; or returns the first error that
// retrying cannot cure (an untrusted certificate, a refused token, a segment the server
// rejects), or ctx's error. Network failures and server errors are retried.
func (u *Uploader) Drain(ctx context.Context) error { return u.run(ctx, true) }

const pollEvery = 2 * time.Second

func (u *Uploader) run(ctx context.Context, drain bool) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := u.o.Now()
		wait := pollEvery
		if open, next := inWindow(u.o.Windows, now); !open {
			wait = min(next.Sub(now), time.Minute)
		} else if until := u.paused(); until.After(now) {
			wait = until.Sub(now)
		} else {
			next, idle, err := u.step(ctx, &wg)
			if err != nil && ctx.Err() == nil {
				u.failed(err, nil)
			}
			if drain || u.finish.Load() {
				u.mu.Lock()
				fatal := u.fatal
				u.mu.Unlock()
				if fatal != nil {
					return fatal
				}
				if idle && err == nil {
					return nil
				}
			}
			if !next.IsZero() {
				wait = min(wait, max(next.Sub(now), 10*time.Millisecond))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-u.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (u *Uploader) paused() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pauseUntil
}

// step starts uploads for free slots and completes what is ready. It returns when to
// look again (zero: at the next event), and whether nothing is left to do.
func (u *Uploader) step(ctx context.Context, wg *sync.WaitGroup) (next time.Time, idle bool, err error) {
	u.mu.Lock()
	free := u.o.Parallel - len(u.inflight)
	busy := len(u.inflight) > 0
	u.mu.Unlock()
	// Look at the head of the queue; only when all of it is held back, at all of it.
	items, err := u.sp.Pending(ctx, 64)
	if err != nil {
		return time.Time{}, false, err
	}
	next, dispatched, err := u.dispatch(ctx, items, free, wg)
	if err == nil && dispatched == 0 && free > 0 && len(items) == 64 {
		if items, err = u.sp.Pending(ctx, 0); err == nil && len(items) > 64 {
			next, dispatched, err = u.dispatch(ctx, items[64:], free, wg)
		}
	}
	if err != nil {
		return next, false, err
	}
	busy = busy || dispatched > 0
	now := u.o.Now()
	if len(items) > 0 && now.Sub(u.lastComplete) < pollEvery {
		return next, false, nil
	}
	u.lastComplete = now
	idle, err = u.completeReady(ctx)
	return next, idle && len(items) == 0 && !busy, err
}

// dispatch starts uploads of the items that are ready, up to free of them.
func (u *Uploader) dispatch(ctx context.Context, items []spool.Item, free int, wg *sync.WaitGroup) (next time.Time, dispatched int, err error) {
	now := u.o.Now()
	for _, it := range items {
		if free <= 0 {
			break
		}
		u.mu.Lock()
		nb := u.notBefore[it.Key]
		u.mu.Unlock()
		if nb.After(now) {
			if next.IsZero() || nb.Before(next) {
				next = nb
			}
			continue
		}
		ok, err := u.ready(ctx, it)
		if err != nil {
			return next, dispatched, err
		}
		if !ok {
			continue
		}
		if sent, err := u.alreadyHeld(it); err != nil {
			return next, dispatched, err
		} else if sent {
			continue
		}
		if err := u.sp.MarkUploading(it); err != nil {
			if errors.Is(err, spool.ErrState) {
				continue // taken meanwhile
			}
			return next, dispatched, err
		}
		u.mu.Lock()
		u.inflight[it.Key] = 0
		u.mu.Unlock()
		free--
		dispatched++
		wg.Go(func() {
			u.upload(ctx, it)
			u.mu.Lock()
			delete(u.inflight, it.Key)
			u.mu.Unlock()
			u.Notify()
		})
	}
	return next, dispatched, nil
}

// state returns this process's record of recording id.
func (u *Uploader) state(id string) *recState {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.recs[id]
	if st == nil {
		st = &recState{inits: map[string]bool{}}
		u.recs[id] = st
	}
	return st
}

// ready reports whether it can be sent now: its recording is announced with the track's
// codec, and a media segment's init segment is on the server.
func (u *Uploader) ready(ctx context.Context, it spool.Item) (bool, error) {
	st := u.state(it.Recording)
	look := func() (announced, trackReady, initHeld bool, retry time.Time) {
		u.mu.Lock()
		defer u.mu.Unlock()
		return st.announced, slices.Contains(st.ready, it.Track), st.inits[it.Track], st.retryAt
	}
	announced, trackReady, initHeld, retry := look()
	if retry.After(u.o.Now()) {
		return false, nil
	}
	if !announced || it.Seq == 0 && !trackReady {
		noManifest, err := u.announce(ctx, it.Recording, st)
		if err != nil {
			return false, err
		}
		if noManifest && !u.sp.Live(it.Recording) {
			// Stopped before its first manifest: only init segments exist, and without
			// a manifest the server cannot take them.
			return false, u.discard(it, "the recording stopped before its first segment")
		}
		announced, trackReady, initHeld, _ = look()
		if !announced {
			return false, nil
		}
	}
	if it.Seq > 0 {
		return initHeld, nil
	}
	if trackReady {
		return true, nil
	}
	if u.sp.Live(it.Recording) {
		return false, nil // the recorder writes the manifest with this codec next
	}
	// Nobody writes the recording any more and no manifest named this track's codec: a
	// crash between the init segment and the manifest (then the track has no media
	// segment and the init is useless), or a rebuilt index that forgot which tracks were
	// ready (then try: the server checks the codec).
	items, err := u.sp.Items(it.Recording)
	if err != nil {
		return false, err
	}
	for _, o := range items {
		if o.Track == it.Track && o.Seq > 0 {
			return true, nil
		}
	}
	return false, u.discard(it, "init segment of a track that never had a media segment")
}

func (u *Uploader) discard(it spool.Item, why string) error {
	u.log.Warn("dropping a segment that cannot be uploaded", "recording", it.Recording, "track", it.Track, "seq", it.Seq, "why", why)
	if err := u.sp.Discard(it, why); err != nil && !errors.Is(err, spool.ErrState) {
		return err
	}
	return nil
}

// announce puts the recording's sealed manifest to the server when it was not yet
// announced or the spool knows more ready tracks than were announced. The first
// announcement also fetches what the server holds, to resume. Failures hold the
// recording back (recFailed); noManifest reports a recording without a manifest.
func (u *Uploader) announce(ctx context.Context, id string, st *recState) (noManifest bool, err error) {
	sealed, ready, err := u.sp.ManifestInfo(id)
	if errors.Is(err, spool.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	u.mu.Lock()
	need := !st.announced || len(ready) > len(st.ready)
	first := st.held == nil
	u.mu.Unlock()
	if !need {
		return false, nil
	}
	if err := u.c.PutSealedRecording(ctx, id, sealed); err != nil {
		u.recFailed(st, fmt.Errorf("announce recording %s: %w", id, err))
		return false, nil
	}
	held := map[string]string{}
	inits := map[string]bool{}
	if first {
		m, err := u.c.Manifest(ctx, id)
		if err != nil {
			u.recFailed(st, fmt.Errorf("read what the server holds of %s: %w", id, err))
			return false, nil
		}
		for _, t := range m.Tracks {
			if t.InitDigest != "" {
				held[t.ID+"/0"] = t.InitDigest
				inits[t.ID] = true
			}
			for _, s := range t.Segments {
				held[fmt.Sprintf("%s/%d", t.ID, s.Seq)] = s.Digest
			}
		}
	}
	u.mu.Lock()
	st.announced, st.ready = true, ready
	if first {
		st.held = held
	}
	for k := range inits {
		st.inits[k] = true
	}
	u.mu.Unlock()
	u.succeeded()
	return false, nil
}

// alreadyHeld acks it without sending when the server already holds its bytes (an
// upload whose acknowledgement the previous run did not record).
func (u *Uploader) alreadyHeld(it spool.Item) (bool, error) {
	u.mu.Lock()
	st := u.recs[it.Recording]
	d := st.held[fmt.Sprintf("%s/%d", it.Track, it.Seq)]
	u.mu.Unlock()
	if d == "" || d != it.Digest {
		return false, nil
	}
	if err := u.sp.MarkUploading(it); err != nil {
		return false, err
	}
	if err := u.sp.MarkAcked(it, d); err != nil {
		return false, err
	}
	u.mu.Lock()
	u.skipped++
	u.mu.Unlock()
	u.log.Debug("segment already on the server", "recording", it.Recording, "track", it.Track, "seq", it.Seq)
	return true, nil
}

// upload sends one item and records the outcome in the spool.
func (u *Uploader) upload(ctx context.Context, it spool.Item) {
	data, err := u.read(it)
	if err == nil {
		u.mu.Lock()
		u.inflight[it.Key] = int64(len(data))
		u.mu.Unlock()
		// A request that stops moving (a black-holed connection) must not hold a slot
		// for ever: allow it a minute plus the time the slowest sane link needs.
		rctx, cancel := context.WithTimeout(ctx, u.requestTimeout(len(data)))
		var lim Limiter // a nil *rate.Limiter would be a non-nil Limiter
		if u.lim != nil {
			lim = u.lim
		}
		err = u.c.PutSealed(rctx, it.Recording, it.Track, it.Seq, data, it.Digest, lim)
		cancel()
	}
	if err == nil {
		if err = u.sp.MarkAcked(it, it.Digest); err == nil {
			u.mu.Lock()
			delete(u.notBefore, it.Key)
			u.sentBytes += int64(len(data))
			u.sentItems++
			u.meter.add(u.o.Now(), int64(len(data)))
			if it.Seq == 0 {
				if st := u.recs[it.Recording]; st != nil {
					st.inits[it.Track] = true
				}
			}
			u.mu.Unlock()
			u.succeeded()
			u.Notify() // a media segment may have waited for this init
			return
		}
	}
	cause := err
	if ctx.Err() != nil {
		cause = nil // stopped, not failed
	}
	if merr := u.sp.MarkFailed(it, cause); merr != nil && !errors.Is(merr, spool.ErrClosed) {
		u.log.Error("spool: put a failed upload back", "err", merr)
	}
	if cause != nil {
		u.failed(fmt.Errorf("%s/%s/%d: %w", it.Recording, it.Track, it.Seq, cause), &it)
	}
}

// requestTimeout is how long one upload of n bytes may take: a minute, plus n at
// 32 KiB/s or at the bandwidth limit, whichever is slower.
func (u *Uploader) requestTimeout(n int) time.Duration {
	bps := float64(32 << 10)
	if u.o.BytesPerSecond > 0 {
		bps = min(bps, float64(u.o.BytesPerSecond)/float64(u.o.Parallel))
	}
	return time.Minute + time.Duration(float64(n)/bps*float64(time.Second))
}

func (u *Uploader) read(it spool.Item) ([]byte, error) {
	f, err := u.sp.OpenSealed(it)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, it.Size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("read spooled %s/%s/%d: %w", it.Recording, it.Track, it.Seq, err)
	}
	return data, nil
}

// completeReady completes every recording that is finished (or no longer written by
// anyone) and fully acked. It reports whether every recording is complete or live.
func (u *Uploader) completeReady(ctx context.Context) (idle bool, err error) {
	stats, err := u.sp.Stats()
	if err != nil {
		return false, err
	}
	idle = true
	for _, s := range stats {
		if s.Completed || s.Live {
			continue
		}
		if s.Pending > 0 {
			idle = false
			continue
		}
		st := u.state(s.ID)
		u.mu.Lock()
		retry := st.retryAt
		u.mu.Unlock()
		if retry.After(u.o.Now()) {
			idle = false
			continue
		}
		sealed, err := u.sp.SealedManifest(s.ID)
		if errors.Is(err, spool.ErrNotFound) && s.Acked == 0 {
			// Stopped before anything was recorded into it: nothing to complete.
			if err := u.sp.Forget(s.ID); err != nil && !errors.Is(err, spool.ErrPending) {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, err
		}
		err = u.c.PutSealedRecording(ctx, s.ID, sealed)
		if err == nil {
			err = u.c.CompleteSealed(ctx, s.ID, sealed)
		}
		if err != nil {
			idle = false
			u.recFailed(st, fmt.Errorf("complete recording %s: %w", s.ID, err))
			continue
		}
		if err := u.sp.MarkCompleted(s.ID); err != nil {
			return false, err
		}
		u.mu.Lock()
		st.completed = true
		u.mu.Unlock()
		u.succeeded()
		u.log.Info("recording complete on the server", "recording", s.ID, "segments", s.Acked, "bytes", s.AckedBytes)
	}
	return idle, nil
}

// recFailed holds a recording back after a failed announcement or completion.
func (u *Uploader) recFailed(st *recState, err error) {
	u.mu.Lock()
	st.retryAt = u.o.Now().Add(u.backoff(u.failures + 1))
	u.mu.Unlock()
	u.failed(err, nil)
}

// failed records a failure. Errors of the connection or the server pause every upload
// with a growing backoff; an error about one item (the server refused it) holds only
// that item back, at the longest backoff; an untrusted certificate, a refused token or a
// revoked credential is fatal to Drain.
func (u *Uploader) failed(err error, it *spool.Item) {
	now := u.o.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lastErr, u.lastErrAt = err.Error(), now
	var se *StatusError
	switch {
	case errors.Is(err, ErrCertificate), errors.Is(err, ErrCredential):
		u.fatal = err
	case errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden):
		u.fatal = fmt.Errorf("the server refused the agent's token: %w", err)
	case errors.As(err, &se) && se.Status == http.StatusNotFound && it != nil:
		// The server does not know the recording (any more): announce it again.
		if st := u.recs[it.Recording]; st != nil {
			st.announced = false
		}
	case errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != http.StatusRequestTimeout && se.Status != http.StatusTooManyRequests:
		// The server refuses what we send: retrying the same bytes cannot help.
		u.fatal = err
		u.log.Error("the server refused an upload", "err", err)
		if it != nil {
			u.notBefore[it.Key] = now.Add(u.o.MaxBackoff)
			return
		}
	}
	u.failures++
	u.pauseUntil = now.Add(u.backoff(u.failures))
	u.log.Warn("upload failed; retrying", "err", err, "retry_in", u.pauseUntil.Sub(now).Round(time.Millisecond))
}

func (u *Uploader) succeeded() {
	u.mu.Lock()
	u.failures = 0
	u.mu.Unlock()
}

// backoff is the wait after n failures in a row: MinBackoff doubled n-1 times, capped at
// MaxBackoff, with "equal jitter" (between half and all of it).
func (u *Uploader) backoff(n int) time.Duration {
	// Double step by step: a shift by n-1 overflows (to a negative wait) long before
	// n reaches 64.
	d := u.o.MinBackoff
	for i := 1; i < n && d < u.o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, u.o.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// Status is what the uploader is doing, for `aula-agent queue` and the desktop app.
type Status struct {
	// InFlight counts uploads under way; Parallel is the most at once.
	InFlight, Parallel int
	// Rate is the upload rate in bytes a second over the last seconds.
	Rate float64
	// SentBytes and SentSegments count what this process uploaded; Skipped counts
	// segments acked because the server already held them.
	SentBytes    int64
	SentSegments int
	Skipped      int
	// PausedUntil is set while uploads wait after failures; WindowOpen is false outside
	// the upload windows.
	PausedUntil time.Time
	WindowOpen  bool
	NextWindow  time.Time
	// LastError and LastErrorAt are the latest failure.
	LastError   string
	LastErrorAt time.Time
}

// Status returns the uploader's status.
func (u *Uploader) Status() Status {
	now := u.o.Now()
	open, next := inWindow(u.o.Windows, now)
	u.mu.Lock()
	defer u.mu.Unlock()
	st := Status{InFlight: len(u.inflight), Parallel: u.o.Parallel, Rate: u.meter.rate(now),
		SentBytes: u.sentBytes, SentSegments: u.sentItems, Skipped: u.skipped,
		WindowOpen: open, LastError: u.lastErr, LastErrorAt: u.lastErrAt}
	if u.pauseUntil.After(now) {
		st.PausedUntil = u.pauseUntil
	}
	if !open {
		st.NextWindow = next
	}
	return st
}

// meter measures a rate over a sliding window of one-second buckets.
type meter struct {
	buckets [10]int64
	at      [10]int64 // unix second of each bucket
}

func (m *meter) add(now time.Time, n int64) {
	sec := now.Unix()
	i := sec % int64(len(m.buckets))
	if m.at[i] != sec {
		m.at[i], m.buckets[i] = sec, 0
	}
	m.buckets[i] += n
}

func (m *meter) rate(now time.Time) float64 {
	sec := now.Unix()
	var sum int64
	for i := range m.buckets {
		if d := sec - m.at[i]; d >= 0 && d < int64(len(m.buckets)) {
			sum += m.buckets[i]
		}
	}
	return float64(sum) / float64(len(m.buckets))
}
