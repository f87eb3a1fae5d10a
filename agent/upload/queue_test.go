package upload_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/aulacapture/aula/agent/spool"
	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/faultproxy"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/servertest"
)

// fixture is a 6 s recording of the synthetic sources by the real aula-agent, in the
// clear (record --out), which the tests replay into spools.
var fixture struct {
	once sync.Once
	dir  string
	err  error
}

func recording(t *testing.T) string {
	t.Helper()
	fixture.once.Do(func() {
		tmp, err := os.MkdirTemp("", "aula-upload-test")
		if err != nil {
			fixture.err = err
			return
		}
		bin := filepath.Join(tmp, "aula-agent")
		if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/aula-agent").CombinedOutput(); err != nil {
			fixture.err = fmt.Errorf("build aula-agent: %v: %s", err, out)
			return
		}
		fixture.dir = filepath.Join(tmp, "rec")
		if out, err := exec.Command(bin, "record", "--screen=synthetic,size=640x360", "--synthetic", "--duration", "6s",
			"--title", "Spooled lecture", "--out", fixture.dir).CombinedOutput(); err != nil {
			fixture.err = fmt.Errorf("record: %v: %s", err, out)
		}
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(filepath.Dir(fixture.dir))
	}
	os.Exit(code)
}

// replay writes the recording in dir into sp under a new id, as the recorder would:
// each track's init, then the manifest, then the segments in time order with the
// growing manifest, then the final manifest when finish.
func replay(t *testing.T, sp *spool.Spool, dir string, finish bool) *manifest.Manifest {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	full, err := manifest.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	full.ID = newID(t)
	rec, err := sp.Recording(full.ID)
	if err != nil {
		t.Fatal(err)
	}
	m := *full
	m.Tracks = make([]manifest.Track, len(full.Tracks))
	type seg struct {
		track int
		s     manifest.Segment
	}
	var order []seg
	for i, tr := range full.Tracks {
		init, err := os.ReadFile(filepath.Join(dir, tr.ID, "init.mp4"))
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Init(tr.ID, init); err != nil {
			t.Fatal(err)
		}
		m.Tracks[i] = tr
		m.Tracks[i].Segments = []manifest.Segment{}
		if err := rec.Manifest(copyManifest(&m)); err != nil {
			t.Fatal(err)
		}
		for _, s := range tr.Segments {
			order = append(order, seg{i, s})
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return order[a].s.Start < order[b].s.Start })
	for _, o := range order {
		tr := &m.Tracks[o.track]
		data, err := os.ReadFile(filepath.Join(dir, tr.ID, fmt.Sprintf("%06d.m4s", o.s.Seq)))
		if err != nil {
			t.Fatal(err)
		}
		tr.Segments = append(tr.Segments, o.s)
		if err := rec.Segment(tr.ID, o.s.Seq, data, copyManifest(&m)); err != nil {
			t.Fatal(err)
		}
	}
	if finish {
		m.State = manifest.StateCaptureFinished
		if err := rec.Finish(copyManifest(&m)); err != nil {
			t.Fatal(err)
		}
	} else {
		rec.Abandon()
	}
	return &m
}

func copyManifest(m *manifest.Manifest) *manifest.Manifest {
	c := *m
	c.Tracks = make([]manifest.Track, len(m.Tracks))
	for i, t := range m.Tracks {
		t.Segments = append([]manifest.Segment(nil), t.Segments...)
		c.Tracks[i] = t
	}
	return &c
}

var idSeq struct {
	sync.Mutex
	n int
}

// newID makes a distinct lowercase UUIDv7.
func newID(t *testing.T) string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	ms := time.Now().UnixMilli()
	return fmt.Sprintf("%08x-%04x-7%03x-8%03x-%012x", ms>>16, ms&0xffff, idSeq.n&0xfff, 0, idSeq.n)
}

// env is a server, a client trusting it, and a spool sealed to its tenant.
type env struct {
	srv *servertest.Server
	c   *upload.Client
	sp  *spool.Spool
}

func newEnv(t *testing.T) env {
	t.Helper()
	srv := servertest.Start(t, "")
	c, err := upload.NewClient(srv.URL, srv.Token, srv.Cert)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Recipient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(t.TempDir(), &spool.Options{Recipients: []age.Recipient{r}, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return env{srv: srv, c: c, sp: sp}
}

// checkOnServer asserts that the server holds every spooled segment of id exactly with
// its sealed digest, nothing else, and that the recording is complete with its title.
func checkOnServer(t *testing.T, e env, id string, want *manifest.Manifest) {
	t.Helper()
	held, err := e.c.Manifest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if held.State != manifest.StateUploadFinished || held.Title != want.Title {
		t.Errorf("server holds state %q title %q; server log:\n%s", held.State, held.Title, e.srv.Logs())
	}
	items, err := e.sp.Items(id)
	if err != nil {
		t.Fatal(err)
	}
	spooled := map[string]string{}
	for _, it := range items {
		if it.State != spool.StateAcked {
			t.Errorf("%s/%d is %s", it.Track, it.Seq, it.State)
		}
		spooled[fmt.Sprintf("%s/%d", it.Track, it.Seq)] = it.Digest
	}
	got := map[string]string{}
	for _, tr := range held.Tracks {
		got[tr.ID+"/0"] = tr.InitDigest
		for _, s := range tr.Segments {
			k := fmt.Sprintf("%s/%d", tr.ID, s.Seq)
			if _, dup := got[k]; dup {
				t.Errorf("%s twice on the server", k)
			}
			got[k] = s.Digest
		}
	}
	if len(got) != len(spooled) {
		t.Errorf("server holds %d files, the spool sealed %d", len(got), len(spooled))
	}
	for k, d := range spooled {
		if got[k] != d {
			t.Errorf("%s: server digest %q, spooled %q", k, got[k], d)
		}
	}
	segs := 0
	for _, tr := range want.Tracks {
		segs += len(tr.Segments) + 1
	}
	if len(spooled) != segs {
		t.Errorf("spooled %d files, the recording has %d", len(spooled), segs)
	}
}

func TestDrain(t *testing.T) {
	dir := recording(t)
	e := newEnv(t)
	m := replay(t, e.sp, dir, true)
	u := upload.NewUploader(e.sp, e.c, upload.Options{Parallel: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := u.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	checkOnServer(t, e, m.ID, m)
	st, err := e.sp.Stats()
	if err != nil || len(st) != 1 || !st[0].Completed || st[0].Pending != 0 {
		t.Fatalf("spool after drain: %+v %v", st, err)
	}
	if e.sp.Used() > 4<<10 {
		t.Errorf("%d bytes left in the spool after every segment was acked", e.sp.Used())
	}
	if s := u.Status(); s.SentSegments != st[0].Acked || s.Skipped != 0 || s.LastError != "" {
		t.Errorf("status %+v", s)
	}
}

// An upload whose acknowledgement was never recorded (the agent died after the server's
// 2xx) is acked from the server's manifest on the next run, not sent again.
func TestResumeFromServerManifest(t *testing.T) {
	dir := recording(t)
	e := newEnv(t)
	m := replay(t, e.sp, dir, true)
	ctx := context.Background()
	sealed, err := e.sp.SealedManifest(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.PutSealedRecording(ctx, m.ID, sealed); err != nil {
		t.Fatal(err)
	}
	items, _ := e.sp.Pending(ctx, 0)
	sent := 0
	for _, it := range items {
		if it.Track != m.Tracks[0].ID || it.Seq > 2 {
			continue
		}
		f, err := e.sp.OpenSealed(it)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, it.Size)
		_, err = f.Read(data)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.c.PutSealed(ctx, it.Recording, it.Track, it.Seq, data, it.Digest, nil); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	u := upload.NewUploader(e.sp, e.c, upload.Options{})
	if err := u.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if s := u.Status(); s.Skipped != sent || s.SentSegments != len(items)-sent {
		t.Errorf("skipped %d sent %d, want %d and %d", s.Skipped, s.SentSegments, sent, len(items)-sent)
	}
	checkOnServer(t, e, m.ID, m)
}

// Connections reset, stalled and black-holed at random: every segment still arrives,
// once, and the recording completes.
func TestNetworkFaults(t *testing.T) {
	dir := recording(t)
	e := newEnv(t)
	first := replay(t, e.sp, dir, true)
	second := replay(t, e.sp, dir, false) // interrupted: completed from its last manifest
	p, err := faultproxy.Start(strings.TrimPrefix(e.srv.URL, "https://"), faultproxy.Faults{
		Seed: 7, Reset: 0.3, Stall: 0.15, Refuse: 0.1, Drop: 0.03, MaxBytes: 512 << 10, StallFor: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := upload.NewClient("https://"+p.Addr(), e.srv.Token, e.srv.Cert)
	if err != nil {
		t.Fatal(err)
	}
	u := upload.NewUploader(e.sp, c, upload.Options{Parallel: 4, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// A connection is kept as long as it works: cut every connection now and then too (every 50 ms, so even a fast drain meets cuts), so uploads meet new
	// connections and their faults.
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				p.CutAll()
			}
		}
	}()
	if err := u.Drain(ctx); err != nil {
		t.Fatalf("drain: %v (proxy %+v)", err, p.Stats())
	}
	st := p.Stats()
	if st.Cut == 0 {
		t.Fatalf("the proxy cut no connection: %+v", st)
	}
	t.Logf("proxy %+v; uploader %+v", st, u.Status())
	checkOnServer(t, e, first.ID, first)
	checkOnServer(t, e, second.ID, second)
}

// A server whose certificate the agent does not trust gets nothing, and the error says
// what to do.
func TestWrongCertificate(t *testing.T) {
	dir := recording(t)
	e := newEnv(t)
	m := replay(t, e.sp, dir, true)
	other := servertest.Start(t, "") // its certificate is not the one trusted below
	c, err := upload.NewClient(e.srv.URL, e.srv.Token, other.Cert)
	if err != nil {
		t.Fatal(err)
	}
	u := upload.NewUploader(e.sp, c, upload.Options{})
	err = u.Drain(context.Background())
	if !errors.Is(err, upload.ErrCertificate) || !strings.Contains(err.Error(), "--server-ca") {
		t.Fatalf("drain against an untrusted certificate: %v", err)
	}
	var se *upload.StatusError
	if _, err := e.c.Manifest(context.Background(), m.ID); !errors.As(err, &se) || se.Status != 404 {
		t.Fatalf("the server heard of the recording: %v", err)
	}
	if items, _ := e.sp.Pending(context.Background(), 0); len(items) == 0 {
		t.Fatal("segments left the queue")
	}
}

// The bandwidth limit holds the upload rate down.
func TestBandwidthLimit(t *testing.T) {
	dir := recording(t)
	e := newEnv(t)
	replay(t, e.sp, dir, true)
	st, _ := e.sp.Stats()
	total := st[0].PendingBytes
	limit := total / 3 // about three seconds
	u := upload.NewUploader(e.sp, e.c, upload.Options{BytesPerSecond: limit})
	start := time.Now()
	if err := u.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// The bucket starts full (a quarter second's worth), so allow for that.
	if min := time.Duration(float64(total-limit/4) / float64(limit) * float64(time.Second)); took < min {
		t.Fatalf("%d bytes at %d B/s took %v, under %v", total, limit, took, min)
	}
}

// Outside its upload windows the uploader sends nothing.
func TestUploadWindow(t *testing.T) {
	dir := recording(t)
	e := newEnv(t)
	replay(t, e.sp, dir, true)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.Local)
	night, err := upload.ParseWindow("22:00-06:00")
	if err != nil {
		t.Fatal(err)
	}
	u := upload.NewUploader(e.sp, e.c, upload.Options{Windows: []upload.Window{night}, Now: func() time.Time { return now }})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := u.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	s := u.Status()
	if s.SentSegments != 0 || s.WindowOpen || !s.NextWindow.Equal(time.Date(2026, 11, 23, 22, 0, 0, 0, time.Local)) {
		t.Fatalf("outside the window: %+v", s)
	}
}

func TestParseWindow(t *testing.T) {
	for _, bad := range []string{"", "22:00", "25:00-06:00", "22:00-6", "night"} {
		if _, err := upload.ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) accepted", bad)
		}
	}
	w, err := upload.ParseWindow(" 12:00 - 13:30 ")
	if err != nil || w.String() != "12:00-13:30" {
		t.Fatalf("%v %v", w, err)
	}
}
