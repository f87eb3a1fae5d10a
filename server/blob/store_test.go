package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/s3test"
	"github.com/aulacapture/aula/server/blob"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// store is one implementation under test, with what the suite needs beyond Store.
type store interface {
	blob.Store
	blob.Deleter
	blob.Lister
	blob.Stater
}

type impl struct {
	name string
	// setup starts the backing (a directory, a server) for the test t of this impl, and
	// gives a function that opens a store on it. Subtests share the backing and keep
	// apart by using fresh tenant IDs.
	setup func(t *testing.T) (open func(t *testing.T) store, leftovers func(t *testing.T) []string)
}

func impls() []impl {
	s3impl := func(name string, start func(testing.TB) s3test.Server) impl {
		return impl{name: name, setup: func(t *testing.T) (func(*testing.T) store, func(*testing.T) []string) {
			srv := start(t)
			return func(t *testing.T) store { return newS3(t, srv) },
				func(t *testing.T) []string { return strays(t, srv.Dir) }
		}}
	}
	return append([]impl{
		{name: "FS", setup: func(t *testing.T) (func(*testing.T) store, func(*testing.T) []string) {
			dir := t.TempDir()
			return func(t *testing.T) store {
					s, err := blob.NewFS(dir)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { s.Close() })
					return s
				},
				func(t *testing.T) []string { return strays(t, dir) }
		}},
		s3impl("S3", s3test.Start),
		s3impl("S3-TLS", s3test.StartTLS),
	}, fsVariants()...)
}

// multipart is a body size that S3, with PartSize MinPartSize as in these tests, sends
// as a multipart upload of three parts; the suite's other sizes go in one request.
const multipart = 2*blob.MinPartSize + 1<<20

func newS3(t testing.TB, srv s3test.Server) *blob.S3 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := blob.NewS3(ctx, s3Config(srv))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func s3Config(srv s3test.Server) blob.S3Config {
	return blob.S3Config{
		Endpoint:   srv.Endpoint,
		Region:     srv.Region,
		Bucket:     srv.Bucket,
		AccessKey:  srv.AccessKey,
		SecretKey:  srv.SecretKey,
		PathStyle:  true,
		PartSize:   blob.MinPartSize,
		HTTPClient: srv.HTTPClient,
	}
}

// strays lists the files under dir that an interrupted upload leaves behind: ours
// (".tmp-…" beside the object) and versitygw's (under ".sgwtmp/", where multipart parts
// wait too). versitygw's lock files (".vgwlocks/") are not uploads and stay.
func strays(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".vgwlocks" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(dir, p)
		if !d.IsDir() && (strings.HasPrefix(d.Name(), ".") || strings.Contains(filepath.ToSlash(rel), ".sgwtmp/")) {
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestStore(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			open, leftovers := im.setup(t)
			for _, c := range suite {
				t.Run(c.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					c.run(ctx, t, leftovers, open(t))
				})
			}
		})
	}
}

var suite = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, leftovers func(*testing.T) []string, s store)
}{
	{"RoundTrip", testRoundTrip},
	{"Overwrite", testOverwrite},
	{"Missing", testMissing},
	{"Delete", testDelete},
	{"List", testList},
	{"ConcurrentPuts", testConcurrentPuts},
	{"FailingReader", testFailingReader},
	{"SizeMismatch", testSizeMismatch},
	{"Cancel", testCancel},
	{"ZeroKey", testZeroKey},
}

func testRoundTrip(ctx context.Context, t *testing.T, _ func(*testing.T) []string, s store) {
	tn := newTenant()
	for i, size := range []int{0, 1, blob.MinPartSize, multipart} {
		for j, seekable := range []bool{true, false} {
			t.Run(fmt.Sprintf("%d-seekable=%v", size, seekable), func(t *testing.T) {
				k := key(t, tn, recording, "camera", 2*i+j+1)
				data := randomBytes(t, size)
				var r io.Reader = bytes.NewReader(data)
				if !seekable {
					r = onlyReader{r}
				}
				if err := s.Put(ctx, k, r, int64(size)); err != nil {
					t.Fatal(err)
				}
				mustGet(ctx, t, s, k, data)
				if n, err := s.Stat(ctx, k); err != nil || n != int64(size) {
					t.Fatalf("Stat = %d, %v; want %d", n, err, size)
				}
			})
		}
	}
	// A seekable body is taken from where it stands.
	k := key(t, tn, recording, "screen", 1)
	r := bytes.NewReader([]byte("skip:payload"))
	_, _ = r.Seek(5, io.SeekStart)
	if err := s.Put(ctx, k, r, 7); err != nil {
		t.Fatal(err)
	}
	mustGet(ctx, t, s, k, []byte("payload"))
}

func testOverwrite(ctx context.Context, t *testing.T, _ func(*testing.T) []string, s store) {
	k := key(t, newTenant(), recording, "camera", 1)
	old := randomBytes(t, 3000)
	put(ctx, t, s, k, old)
	neu := randomBytes(t, 1000)
	put(ctx, t, s, k, neu)
	mustGet(ctx, t, s, k, neu)
	if n, err := s.Stat(ctx, k); err != nil || n != 1000 {
		t.Fatalf("Stat = %d, %v", n, err)
	}
}

func testMissing(ctx context.Context, t *testing.T, _ func(*testing.T) []string, s store) {
	k := key(t, newTenant(), recording, "camera", 1)
	if _, err := s.Get(ctx, k); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get missing err = %v", err)
	}
	if _, err := s.Stat(ctx, k); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat missing err = %v", err)
	}
	if err := s.Delete(ctx, k); err != nil {
		t.Fatalf("Delete missing err = %v", err)
	}
}

func testDelete(ctx context.Context, t *testing.T, _ func(*testing.T) []string, s store) {
	k := key(t, newTenant(), recording, "camera", 1)
	put(ctx, t, s, k, []byte("x"))
	for range 2 {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Get after Delete err = %v", err)
		}
	}
	put(ctx, t, s, k, []byte("again")) // the directory, if any, is still usable
	mustGet(ctx, t, s, k, []byte("again"))
}

func testList(ctx context.Context, t *testing.T, _ func(*testing.T) []string, s store) {
	a, b := newTenant(), newTenant()
	rec1, rec2 := newUUID(), newUUID()
	var want1, want2, wantB []blob.Key
	for _, track := range []string{"cam", "cam-2", "audio"} {
		ik, err := blob.InitKey(a, rec1, track)
		if err != nil {
			t.Fatal(err)
		}
		want1 = append(want1, ik)
		for seq := 1; seq <= 3; seq++ {
			want1 = append(want1, key(t, a, rec1, track, seq))
		}
	}
	want2 = []blob.Key{key(t, a, rec2, "cam", 1)}
	// Tenant b has a recording with the same ID: a's listings must not see it.
	wantB = []blob.Key{key(t, b, rec1, "cam", 1), key(t, b, rec1, "cam", 2)}
	for _, k := range slices.Concat(want1, want2, wantB) {
		put(ctx, t, s, k, []byte(k.String()))
	}
	sortKeys := func(ks []blob.Key) []blob.Key {
		ks = slices.Clone(ks)
		slices.SortFunc(ks, func(x, y blob.Key) int { return strings.Compare(x.String(), y.String()) })
		return ks
	}
	check := func(p blob.Prefix, want []blob.Key) {
		t.Helper()
		got, err := s.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, sortKeys(want)) {
			t.Fatalf("List(%s) =\n%v\nwant\n%v", p, got, sortKeys(want))
		}
	}
	check(mustPrefix(blob.RecordingPrefix(a, rec1)), want1)
	check(mustPrefix(blob.RecordingPrefix(a, rec2)), want2)
	check(mustPrefix(blob.TenantPrefix(a)), slices.Concat(want1, want2))
	check(mustPrefix(blob.RecordingPrefix(b, rec1)), wantB)
	check(mustPrefix(blob.TenantPrefix(b)), wantB)
	check(mustPrefix(blob.RecordingPrefix(b, rec2)), nil)
	check(mustPrefix(blob.TenantPrefix(newTenant())), nil)
	if _, err := s.List(ctx, blob.Prefix{}); !errors.Is(err, blob.ErrBadKey) {
		t.Fatalf("List(zero Prefix) err = %v", err)
	}
}

func testConcurrentPuts(ctx context.Context, t *testing.T, _ func(*testing.T) []string, s store) {
	tn := newTenant()
	const n = 16
	data := make([][]byte, n)
	for i := range data {
		data[i] = randomBytes(t, 1000*(i+1)+i)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			k := key(t, tn, recording, "camera", i+1)
			var r io.Reader = bytes.NewReader(data[i])
			if i%2 == 1 {
				r = onlyReader{r}
			}
			errs[i] = s.Put(ctx, k, r, int64(len(data[i])))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		mustGet(ctx, t, s, key(t, tn, recording, "camera", i+1), data[i])
	}
	got, err := s.List(ctx, mustPrefix(blob.TenantPrefix(tn)))
	if err != nil || len(got) != n {
		t.Fatalf("List = %d keys, %v", len(got), err)
	}
}

var errBoom = errors.New("boom")

func testFailingReader(ctx context.Context, t *testing.T, leftovers func(*testing.T) []string, s store) {
	tn := newTenant()
	for i, size := range []int{1000, multipart} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			k := key(t, tn, recording, "camera", i+1)
			r := &failingReader{r: bytes.NewReader(randomBytes(t, size)), after: int64(size / 2)}
			err := s.Put(ctx, k, r, int64(size))
			if err == nil {
				t.Fatal("Put succeeded")
			}
			t.Logf("Put error: %v", err)
			if _, err := s.Get(ctx, k); !errors.Is(err, blob.ErrNotFound) {
				n, _ := s.Stat(ctx, k)
				t.Fatalf("Get after failed Put err = %v (size %d)", err, n)
			}
			// A failed overwrite keeps the old object whole.
			old := randomBytes(t, 777)
			put(ctx, t, s, k, old)
			r = &failingReader{r: bytes.NewReader(randomBytes(t, size)), after: int64(size / 2)}
			if err := s.Put(ctx, k, r, int64(size)); err == nil {
				t.Fatal("Put succeeded")
			}
			mustGet(ctx, t, s, k, old)
			waitNoStrays(t, leftovers)
		})
	}
}

func testSizeMismatch(ctx context.Context, t *testing.T, leftovers func(*testing.T) []string, s store) {
	tn := newTenant()
	for i, tc := range []struct {
		name       string
		body, size int
		seekable   bool
	}{
		{"short", 100, 101, false},
		{"long", 101, 100, false},
		{"short seekable", 100, 101, true},
		{"long seekable", 101, 100, true},
		{"short multipart", multipart - 1, multipart, false},
		{"long multipart", multipart + 1, multipart, false},
		{"long by a part", multipart, 2 * blob.MinPartSize, false},
		{"negative", 0, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := key(t, tn, recording, "camera", i+1)
			var r io.Reader = bytes.NewReader(randomBytes(t, tc.body))
			if !tc.seekable {
				r = onlyReader{r}
			}
			err := s.Put(ctx, k, r, int64(tc.size))
			if !errors.Is(err, blob.ErrSizeMismatch) {
				t.Fatalf("Put err = %v, want ErrSizeMismatch", err)
			}
			if _, err := s.Get(ctx, k); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("Get after failed Put err = %v", err)
			}
		})
	}
	waitNoStrays(t, leftovers)
}

func testCancel(ctx context.Context, t *testing.T, leftovers func(*testing.T) []string, s store) {
	tn := newTenant()
	k := key(t, tn, recording, "camera", 1)
	put(ctx, t, s, k, []byte("there"))

	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(done, key(t, tn, recording, "camera", 2), bytes.NewReader([]byte("x")), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Put err = %v", err)
	}
	if _, err := s.Get(done, k); !errors.Is(err, context.Canceled) {
		t.Errorf("Get err = %v", err)
	}
	if _, err := s.Stat(done, k); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat err = %v", err)
	}
	if err := s.Delete(done, k); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete err = %v", err)
	}
	if _, err := s.List(done, mustPrefix(blob.TenantPrefix(tn))); !errors.Is(err, context.Canceled) {
		t.Errorf("List err = %v", err)
	}
	mustGet(ctx, t, s, k, []byte("there"))

	// Cancelled while the body is being read, buffered and streamed.
	for i, size := range []int{1000, multipart} {
		k := key(t, tn, recording, "screen", i+1)
		cctx, cancel := context.WithCancel(ctx)
		r := &cancelingReader{r: bytes.NewReader(randomBytes(t, size)), after: int64(size / 2), cancel: cancel}
		err := s.Put(cctx, k, onlyReader{r}, int64(size))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put(%d) cancelled midway err = %v", size, err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get after cancelled Put err = %v", err)
		}
	}
	waitNoStrays(t, leftovers)
}

func testZeroKey(ctx context.Context, t *testing.T, _ func(*testing.T) []string, s store) {
	var k blob.Key
	if err := s.Put(ctx, k, strings.NewReader("x"), 1); !errors.Is(err, blob.ErrBadKey) {
		t.Errorf("Put err = %v", err)
	}
	if _, err := s.Get(ctx, k); !errors.Is(err, blob.ErrBadKey) {
		t.Errorf("Get err = %v", err)
	}
	if _, err := s.Stat(ctx, k); !errors.Is(err, blob.ErrBadKey) {
		t.Errorf("Stat err = %v", err)
	}
	if err := s.Delete(ctx, k); !errors.Is(err, blob.ErrBadKey) {
		t.Errorf("Delete err = %v", err)
	}
}

// waitNoStrays allows the server a moment: an aborted upload may still be unwinding
// there after the client has given up.
func waitNoStrays(t *testing.T, leftovers func(*testing.T) []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := leftovers(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d temporary files left: %.5q", len(left), left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// helpers

type onlyReader struct{ r io.Reader } // hides Seek

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// failingReader fails with errBoom after passing on `after` bytes.
type failingReader struct {
	r     io.Reader
	after int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errBoom
	}
	if int64(len(p)) > f.after {
		p = p[:f.after]
	}
	n, err := f.r.Read(p)
	f.after -= int64(n)
	return n, err
}

// cancelingReader cancels its context after passing on `after` bytes, then goes on.
type cancelingReader struct {
	r      io.Reader
	after  int64
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	if c.after <= 0 {
		c.cancel()
	} else if int64(len(p)) > c.after {
		p = p[:c.after]
	}
	n, err := c.r.Read(p)
	c.after -= int64(n)
	return n, err
}

func put(ctx context.Context, t *testing.T, s blob.Store, k blob.Key, data []byte) {
	t.Helper()
	if err := s.Put(ctx, k, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

func mustGet(ctx context.Context, t *testing.T, s blob.Store, k blob.Key, want []byte) {
	t.Helper()
	rc, err := s.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get %s: %d bytes, want %d (equal prefix: %v)", k, len(got), len(want), bytes.HasPrefix(want, got))
	}
}

func key(t testing.TB, tenant, recording, track string, seq int) blob.Key {
	t.Helper()
	k, err := blob.SegmentKey(tenant, recording, track, seq)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustPrefix(p blob.Prefix, err error) blob.Prefix {
	if err != nil {
		panic(err)
	}
	return p
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newTenant() string { return newUUID() }
