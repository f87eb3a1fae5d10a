package spool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"go.uber.org/goleak"

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	goleak.VerifyTestMain(m)
}

const recID = "0190a6d2-7b3c-7def-8123-456789abcdef"

// Known plaintext that must never reach the disk: box headers and a title.
var (
	ftyp   = []byte("\x00\x00\x00\x18ftypiso6")
	moof   = []byte("\x00\x00\x05\x00moof\x00\x00\x00\x10mfhd")
	title  = "Thermodynamik II: secret lecture title 7f3a"
	needle = [][]byte{ftyp, moof, []byte(title)}
)

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func open(t testing.TB, dir string, id *age.X25519Identity, mod func(*Options)) *Spool {
	t.Helper()
	o := &Options{Recipients: []age.Recipient{id.Recipient()}, MinFreeBytes: -1}
	if mod != nil {
		mod(o)
	}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// media builds a segment-like plaintext: ftyp and moof headers and a payload derived
// from seq, so its content can be checked after a crash.
func media(seq, size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, ftyp...)
	b = append(b, moof...)
	for len(b) < size {
		b = append(b, byte(seq), byte(seq>>8), byte(len(b)), 0x5a)
	}
	return b[:size]
}

func testManifest(segs int) *manifest.Manifest {
	m := &manifest.Manifest{ID: recID, Title: title, State: manifest.StateCapturing,
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Tracks:    []manifest.Track{{ID: "screen", Kind: manifest.KindScreen, Codec: "avc1.64001f"}}}
	for i := 1; i <= segs; i++ {
		m.Tracks[0].Segments = append(m.Tracks[0].Segments, manifest.Segment{Seq: i, Start: float64(i-1) * 2,
			Duration: 2, Size: 1, Digest: manifest.Digest([]byte{byte(i)})})
	}
	return m
}

// write spools an init segment and n media segments of size bytes.
func write(t testing.TB, s *Spool, n, size int) *Recording {
	t.Helper()
	r, err := s.Recording(recID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Init("screen", media(0, 512)); err != nil {
		t.Fatal(err)
	}
	for seq := 1; seq <= n; seq++ {
		if err := r.Segment("screen", seq, media(seq, size), testManifest(seq)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func readSealed(t testing.TB, s *Spool, it Item) []byte {
	t.Helper()
	f, err := s.OpenSealed(it)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	tenant, recovery := newIdentity(t), newIdentity(t)
	dir := t.TempDir()
	s := open(t, dir, tenant, func(o *Options) { o.Recipients = append(o.Recipients, recovery.Recipient()) })
	defer s.Close()
	write(t, s, 3, 100<<10)

	items, err := s.Pending(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 4 {
		t.Fatalf("pending: %d items, want 4", len(items))
	}
	for i, it := range items {
		if it.Seq != i || it.State != StateSealed || it.Recording != recID || it.Track != "screen" {
			t.Fatalf("item %d: %+v", i, it)
		}
		if i > 0 && (it.Duration != 2 || it.Start != float64(i-1)*2) {
			t.Errorf("item %d: start %v duration %v", i, it.Start, it.Duration)
		}
		sealed := readSealed(t, s, it)
		if manifest.Digest(sealed) != it.Digest || int64(len(sealed)) != it.Size {
			t.Fatalf("item %d: digest or size differs from the sealed bytes", i)
		}
		want := media(it.Seq, 100<<10)
		if it.Seq == 0 {
			want = media(0, 512)
		}
		for _, id := range []age.Identity{tenant, recovery} {
			plain, err := seal.Open(sealed, 0, id)
			if err != nil || !bytes.Equal(plain, want) {
				t.Fatalf("item %d: open: %v, equal %v", i, err, bytes.Equal(plain, want))
			}
		}
	}
	sm, err := s.SealedManifest(recID)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := seal.Open(sm, 0, recovery)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Decode(bytes.NewReader(plain))
	if err != nil || m.Title != title || len(m.Tracks[0].Segments) != 3 {
		t.Fatalf("manifest: %v %+v", err, m)
	}
	// The sealed manifest names the sealed files' digests and sizes, which the server
	// compares, not the plaintext ones the recorder gave.
	if m.Tracks[0].InitDigest != items[0].Digest {
		t.Errorf("manifest init digest %q, spooled %q", m.Tracks[0].InitDigest, items[0].Digest)
	}
	for i, sg := range m.Tracks[0].Segments {
		if it := items[i+1]; sg.Digest != it.Digest || sg.Size != it.Size || sg.Seq != it.Seq {
			t.Errorf("manifest segment %+v, spooled %+v", sg, it)
		}
	}
	stats, err := s.Stats()
	if err != nil || len(stats) != 1 || !stats[0].Live || stats[0].Duration != 6 || stats[0].Pending != 4 {
		t.Fatalf("stats %+v: %v", stats, err)
	}
}

func TestQueue(t *testing.T) {
	id := newIdentity(t)
	s := open(t, t.TempDir(), id, nil)
	defer s.Close()
	r := write(t, s, 3, 10<<10)
	ctx := context.Background()

	items, _ := s.Pending(ctx, 2)
	if len(items) != 2 || items[0].Seq != 0 || items[1].Seq != 1 {
		t.Fatalf("pending(2): %+v", items)
	}
	first := items[0]
	if err := s.MarkUploading(first); err != nil {
		t.Fatal(err)
	}
	if items, _ = s.Pending(ctx, 0); len(items) != 3 || items[0].Seq != 1 {
		t.Fatalf("uploading item still pending: %+v", items)
	}
	if err := s.MarkFailed(first, errors.New("connection reset")); err != nil {
		t.Fatal(err)
	}
	if items, _ = s.Pending(ctx, 1); items[0].Seq != 0 || items[0].Attempts != 1 || items[0].LastError != "connection reset" {
		t.Fatalf("failed item not back first: %+v", items[0])
	}
	path := s.itemPath(&first)

	tests := []struct {
		name    string
		digest  string
		want    error
		gone    bool
		pending int
	}{
		{"digest mismatch", manifest.Digest([]byte("other")), ErrDigestMismatch, false, 4},
		{"matching digest", first.Digest, nil, true, 3},
		{"acked twice", first.Digest, nil, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.MarkAcked(first, tt.digest); !errors.Is(err, tt.want) {
				t.Fatalf("MarkAcked: %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) != tt.gone {
				t.Fatalf("file gone: %v, want %v", err, tt.gone)
			}
			if items, _ := s.Pending(ctx, 0); len(items) != tt.pending {
				t.Fatalf("pending: %d, want %d", len(items), tt.pending)
			}
		})
	}
	if err := r.Segment("screen", 2, media(2, 10), nil); !errors.Is(err, ErrExists) {
		t.Fatalf("segment twice: %v", err)
	}
	if err := r.Finish(testManifest(3)); err != nil {
		t.Fatal(err)
	}
	if err := r.Segment("screen", 4, media(4, 10), nil); !errors.Is(err, ErrFinished) {
		t.Fatalf("after finish: %v", err)
	}
	st, err := s.Stats()
	if err != nil || len(st) != 1 || st[0].Pending != 3 || st[0].Acked != 1 || !st[0].Finished || st[0].AckedBytes != first.Size {
		t.Fatalf("stats: %v %+v", err, st)
	}
	if err := s.Forget(recID); !errors.Is(err, ErrPending) {
		t.Fatalf("forget with pending: %v", err)
	}
}

// scanPlaintext reports any file under dir holding a known plaintext.
func scanPlaintext(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // files vanish under a concurrent writer
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, n := range needle {
			if bytes.Contains(b, n) {
				return fmt.Errorf("%s holds %q", path, n)
			}
		}
		return nil
	})
}

func TestNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, newIdentity(t), nil)
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		defer close(done)
		r, err := s.Recording(recID)
		if err == nil {
			err = r.Init("screen", media(0, 4096))
		}
		for seq := 1; err == nil && seq <= 60; seq++ {
			err = r.Segment("screen", seq, media(seq, 200<<10), testManifest(seq))
		}
		if err == nil {
			err = r.Finish(testManifest(60))
		}
		done <- err
	}()
	scans := 0
	for running := true; running; scans++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		if err := scanPlaintext(dir); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d scans", scans)
}

func TestQuota(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want error
	}{
		{"quota", func(o *Options) { o.QuotaBytes = 150 << 10 }, ErrQuota},
		{"low disk", func(o *Options) { o.MinFreeBytes = 1 << 62 }, ErrLowDisk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, newIdentity(t), tt.mod)
			defer s.Close()
			r, err := s.Recording(recID)
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			seq := 1
			for ; seq <= 5 && werr == nil; seq++ {
				werr = r.Segment("screen", seq, media(seq, 64<<10), nil)
			}
			if !errors.Is(werr, tt.want) {
				t.Fatalf("err %v, want %v", werr, tt.want)
			}
			failed := seq - 1
			items, _ := s.Items(recID)
			if len(items) != failed-1 {
				t.Fatalf("%d items indexed, want %d", len(items), failed-1)
			}
			if _, err := os.Stat(filepath.Join(s.recDir(recID), "screen", fileName(failed))); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("refused segment on disk: %v", err)
			}
			if s.opts.QuotaBytes > 0 && s.Used() > s.opts.QuotaBytes {
				t.Fatalf("used %d over quota", s.Used())
			}
			if n := countTemps(t, dir); n != 0 {
				t.Fatalf("%d temp files", n)
			}
		})
	}
}

func countTemps(t testing.TB, dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, _ error) error {
		if d != nil && isTemp(d.Name()) {
			n++
		}
		return nil
	})
	return n
}

func TestCorruptIndex(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(b []byte) []byte
		rebuilt bool
	}{
		{"empty", func([]byte) []byte { return nil }, false},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, true},
		{"meta pages scribbled", func(b []byte) []byte {
			for i := 16; i < 64; i++ {
				b[i], b[4096+i] = 0xa5, 0x5a
			}
			return b
		}, true},
		{"data pages scribbled", func(b []byte) []byte {
			for i := 2 * 4096; i < len(b); i += 7 {
				b[i] ^= 0xff
			}
			return b
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newIdentity(t)
			dir := t.TempDir()
			s := open(t, dir, id, nil)
			write(t, s, 20, 4<<10)
			want, _ := s.Pending(context.Background(), 0)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(dir, dbName)
			b, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(db, tt.corrupt(b), 0o600); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, id, nil)
			defer s.Close()
			rep := s.Recovered()
			if rep.Rebuilt != tt.rebuilt || len(rep.Reindexed) != len(want) {
				t.Fatalf("rebuilt %v (%s), reindexed %d, want %v and %d", rep.Rebuilt, rep.BrokenReason, len(rep.Reindexed), tt.rebuilt, len(want))
			}
			got, _ := s.Pending(context.Background(), 0)
			if len(got) != len(want) {
				t.Fatalf("%d pending, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i].Seq != want[i].Seq || got[i].Digest != want[i].Digest {
					t.Fatalf("item %d: %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestRecoverFiles(t *testing.T) {
	id := newIdentity(t)
	dir := t.TempDir()
	s := open(t, dir, id, nil)
	write(t, s, 3, 1<<10)
	items, _ := s.Pending(context.Background(), 0)
	// Taken by an uploader when the agent stops: taking lives in memory only, so the
	// item is simply queued again (nothing to requeue).
	if err := s.MarkUploading(items[1]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	trackDir := filepath.Join(dir, segmentsDir, recID, "screen")
	// A lost file, a temp file, and a sealed file the index never saw.
	must(t, os.Remove(filepath.Join(trackDir, fileName(3))))
	must(t, os.WriteFile(filepath.Join(trackDir, ".000004.age"+tmpMark+"123"), []byte("half"), 0o600))
	var extra bytes.Buffer
	must(t, seal.Seal(&extra, media(9, 100), id.Recipient()))
	must(t, os.WriteFile(filepath.Join(trackDir, fileName(9)), extra.Bytes(), 0o600))

	s = open(t, dir, id, nil)
	defer s.Close()
	rep := s.Recovered()
	if rep.TempRemoved != 1 || len(rep.Lost) != 1 || rep.Lost[0].Seq != 3 || len(rep.Reindexed) != 1 ||
		rep.Reindexed[0].Seq != 9 || rep.Reindexed[0].Digest != manifest.Digest(extra.Bytes()) || rep.Requeued != 0 {
		t.Fatalf("report: %+v", rep)
	}
	got, _ := s.Pending(context.Background(), 0)
	var seqs []int
	for _, it := range got {
		seqs = append(seqs, it.Seq)
	}
	if fmt.Sprint(seqs) != "[0 1 2 9]" {
		t.Fatalf("pending seqs %v", seqs)
	}
}

func TestCompact(t *testing.T) {
	old := compactMinSize
	compactMinSize = 256 << 10
	t.Cleanup(func() { compactMinSize = old })
	id := newIdentity(t)
	dir := t.TempDir()
	s := open(t, dir, id, nil)
	write(t, s, 2, 1<<10)
	big := bytes.Repeat([]byte{1}, 64<<10)
	for i := range 64 {
		must(t, s.SetSetting(fmt.Sprint("junk", i), big))
	}
	for i := range 64 {
		must(t, s.SetSetting(fmt.Sprint("junk", i), nil))
	}
	s.Close()
	s = open(t, dir, id, nil)
	defer s.Close()
	rep := s.Recovered()
	if !rep.Compacted || rep.SizeAfter >= rep.SizeBefore {
		t.Fatalf("not compacted: %+v", rep)
	}
	if items, _ := s.Pending(context.Background(), 0); len(items) != 3 {
		t.Fatalf("%d items after compaction", len(items))
	}
	if n := countTemps(t, dir); n != 0 {
		t.Fatalf("%d temp files", n)
	}
}

func TestOpenErrors(t *testing.T) {
	// Without a recipient a spool lists and drains, but writes nothing.
	bare, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := bare.Recording(recID)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Init("camera", []byte("init")); !errors.Is(err, ErrNoRecipient) {
		t.Fatalf("write without a recipient: %v", err)
	}
	bare.Close()
	s := open(t, t.TempDir(), newIdentity(t), nil)
	if _, err := s.Recording("not-a-uuid"); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	r, _ := s.Recording(recID)
	if err := r.Segment("Bad Track", 1, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Pending(context.Background(), 0); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSealEnqueue seals and spools 1 MiB segments (fsync, rename, index commit
// each), then writes the same bytes with bufio to plain files as the reference, and
// reports both rates and their ratio.
func BenchmarkSealEnqueue(b *testing.B) {
	const size = 1 << 20
	dir := b.TempDir()
	s := open(b, dir, newIdentity(b), nil)
	defer s.Close()
	r, err := s.Recording(recID)
	if err != nil {
		b.Fatal(err)
	}
	data := media(1, size)
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := r.Segment("screen", i+1, data, nil); err != nil {
			b.Fatal(err)
		}
	}
	spooled := time.Since(start)
	b.StopTimer()
	plain := plainWrite(b, b.TempDir(), data, b.N)
	mbs := func(d time.Duration) float64 { return float64(b.N) * size / 1e6 / d.Seconds() }
	b.ReportMetric(mbs(spooled), "spool-MB/s")
	b.ReportMetric(mbs(plain), "plain-MB/s")
	b.ReportMetric(mbs(spooled)/mbs(plain), "ratio")
}

// BenchmarkPlainWrite is the reference: the same bytes written to files through bufio.
func BenchmarkPlainWrite(b *testing.B) {
	data := media(1, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	plainWrite(b, b.TempDir(), data, b.N)
}

// BenchmarkSeal is sealing alone, in memory: the "≥ 500 MB/s on one core" figure.
func BenchmarkSeal(b *testing.B) {
	data := media(1, 1<<20)
	rcp := newIdentity(b).Recipient()
	var buf bytes.Buffer
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		buf.Reset()
		if err := seal.Seal(&buf, data, rcp); err != nil {
			b.Fatal(err)
		}
	}
}

func plainWrite(b *testing.B, dir string, data []byte, n int) time.Duration {
	start := time.Now()
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%06d.m4s", i)))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(f)
		_, err = w.Write(data)
		if err == nil {
			err = w.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// A completed recording stays listed for KeepCompleted, then Open forgets it.
func TestCompleted(t *testing.T) {
	id := newIdentity(t)
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := open(t, dir, id, func(o *Options) { o.Now = clock })
	r := write(t, s, 2, 1<<10)
	if err := r.Finish(testManifest(2)); err != nil {
		t.Fatal(err)
	}
	if s.Live(recID) {
		t.Fatal("a finished recording is still live")
	}
	items, _ := s.Pending(context.Background(), 0)
	for _, it := range items {
		must(t, s.MarkUploading(it))
		must(t, s.MarkAcked(it, it.Digest))
	}
	must(t, s.MarkCompleted(recID))
	must(t, s.MarkCompleted(recID)) // again: no error
	if err := s.MarkCompleted("0190a4a0-0000-7000-8000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("complete unknown: %v", err)
	}
	st, _ := s.Stats()
	if len(st) != 1 || !st[0].Completed || !st[0].Finished || st[0].Acked != 3 {
		t.Fatalf("stats %+v", st)
	}
	must(t, s.Close())
	now = now.Add(KeepCompleted - time.Minute)
	s = open(t, dir, id, func(o *Options) { o.Now = clock })
	if st, _ := s.Stats(); len(st) != 1 {
		t.Fatalf("forgotten too early: %+v", st)
	}
	must(t, s.Close())
	now = now.Add(2 * time.Minute)
	s = open(t, dir, id, func(o *Options) { o.Now = clock })
	defer s.Close()
	if st, _ := s.Stats(); len(st) != 0 {
		t.Fatalf("kept after KeepCompleted: %+v", st)
	}
	if _, err := os.Stat(s.recDir(recID)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("directory kept: %v", err)
	}
}
