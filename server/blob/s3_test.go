package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/s3test"
	"github.com/aulacapture/aula/server/blob"
)

func TestNewS3Config(t *testing.T) {
	good := blob.S3Config{Endpoint: "http://127.0.0.1:1", Bucket: "b", AccessKey: "a", SecretKey: "s3cr3t-value"}
	for _, tc := range []struct {
		name string
		edit func(*blob.S3Config)
		want string
	}{
		{"no bucket", func(c *blob.S3Config) { c.Bucket = "" }, "Bucket"},
		{"no access key", func(c *blob.S3Config) { c.AccessKey = "" }, "AccessKey"},
		{"no secret", func(c *blob.S3Config) { c.SecretKey = "" }, "SecretKey"},
		{"ftp endpoint", func(c *blob.S3Config) { c.Endpoint = "ftp://127.0.0.1" }, "Endpoint"},
		{"no host", func(c *blob.S3Config) { c.Endpoint = "http://" }, "Endpoint"},
		{"user in endpoint", func(c *blob.S3Config) { c.Endpoint = "http://u:p@127.0.0.1" }, "Endpoint"},
		{"relative endpoint", func(c *blob.S3Config) { c.Endpoint = "127.0.0.1:9000" }, "Endpoint"},
		{"small parts", func(c *blob.S3Config) { c.PartSize = blob.MinPartSize - 1 }, "PartSize"},
		{"nothing listens", func(*blob.S3Config) {}, `bucket "b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			cfg.HTTPClient = &http.Client{Transport: &http.Transport{}}
			defer cfg.HTTPClient.CloseIdleConnections()
			// Short: the SDK would back off and retry a refused connection for seconds.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := blob.NewS3(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), good.SecretKey) {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
}

func TestNewS3Bucket(t *testing.T) {
	srv := s3test.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := s3Config(srv)
	cfg.Bucket = "aula-other"
	if _, err := blob.NewS3(ctx, cfg); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing bucket err = %v", err)
	}
	cfg.CreateBucket = true
	for range 2 { // creates it, then finds it
		s, err := blob.NewS3(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		put(ctx, t, s, key(t, tenant, recording, "camera", 1), []byte("x"))
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "aula-other", "tenants", tenant)); err != nil {
		t.Fatalf("object not in the new bucket: %v", err)
	}
	cfg.SecretKey = "wrong-secret-value"
	_, err := blob.NewS3(ctx, cfg)
	if err == nil {
		t.Fatal("wrong secret accepted")
	}
	if strings.Contains(err.Error(), cfg.SecretKey) {
		t.Fatalf("error shows the secret: %v", err)
	}
}

// TestS3NetworkCut breaks the connection halfway through every upload request: no
// object may appear, whole or partial. versitygw 1.8 over HTTPS stores the half body of
// such a request unless a checksum announced in a header exposes it, which is why Put
// always sends one.
func TestS3NetworkCut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) s3test.Server
	}{{"http", s3test.Start}, {"https", s3test.StartTLS}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := tc.start(t)
			cut := &cutTransport{next: srv.HTTPClient.Transport}
			cfg := s3Config(srv)
			cfg.HTTPClient = &http.Client{Transport: cut}
			s := newS3(t, srv)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cutStore, err := blob.NewS3(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			tn := newTenant()
			// Every attempt cut: Put fails and nothing is stored. Only a single request is
			// tried (a multipart upload whose part fails is aborted, as FailingReader
			// shows), since the SDK's backoff between attempts makes this slow.
			k := key(t, tn, recording, "camera", 1)
			cut.set(-1)
			if err := cutStore.Put(ctx, k, bytes.NewReader(randomBytes(t, 100_000)), 100_000); err == nil {
				t.Fatal("Put over a cut connection succeeded")
			}
			if n, err := s.Stat(ctx, k); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("after failed Put: Stat = %d, %v; want ErrNotFound", n, err)
			}
			// The first attempt cut: the SDK's retry stores the whole object.
			for i, size := range []int{100_000, multipart} {
				k := key(t, tn, recording, "camera", i+2)
				data := randomBytes(t, size)
				cut.set(1)
				if err := cutStore.Put(ctx, k, onlyReader{bytes.NewReader(data)}, int64(size)); err != nil {
					t.Fatal(err)
				}
				mustGet(ctx, t, s, k, data)
			}
			waitNoStrays(t, func(t *testing.T) []string { return strays(t, srv.Dir) })
		})
	}
}

// cutTransport cuts the body of upload requests halfway, for the next n of them (all,
// if n < 0).
type cutTransport struct {
	next http.RoundTripper
	n    chan int
}

func (c *cutTransport) set(n int) {
	if c.n == nil {
		c.n = make(chan int, 1)
	} else {
		<-c.n
	}
	c.n <- n
}

func (c *cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Body != nil && r.ContentLength > 1000 {
		n := <-c.n
		if n != 0 {
			r.Body = &cutBody{rc: r.Body, left: r.ContentLength / 2}
			n--
		}
		c.n <- n
	}
	return c.next.RoundTrip(r)
}

type cutBody struct {
	rc   io.ReadCloser
	left int64
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("connection cut")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.rc.Close() }

// TestS3GetVerifies changes an object's bytes behind the server's back: reading it must
// fail, by the CRC32 that Put stored with it.
func TestS3GetVerifies(t *testing.T) {
	srv := s3test.Start(t)
	s := newS3(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, size := range []int{64 << 10, multipart} {
		k := key(t, newTenant(), recording, "camera", i+1)
		data := randomBytes(t, size)
		put(ctx, t, s, k, data)
		mustGet(ctx, t, s, k, data)
		path := filepath.Join(srv.Dir, srv.Bucket, filepath.FromSlash(k.String()))
		bad := bytes.Clone(data)
		bad[size-1000] ^= 1
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(rc)
		rc.Close()
		if err == nil {
			t.Fatalf("corrupted object of %d bytes read without error", size)
		}
		t.Logf("read error: %v", err)
	}
}
