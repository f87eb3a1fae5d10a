package s3test_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/s3test"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) s3test.Server
	}{
		{"http", s3test.Start},
		{"https", s3test.StartTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pid int
			t.Run("serve", func(t *testing.T) {
				srv := tc.start(t)
				pid = srv.Pid
				if !strings.HasPrefix(srv.Endpoint, tc.name+"://127.0.0.1:") {
					t.Fatalf("Endpoint = %q", srv.Endpoint)
				}
				roundTrip(t, srv)
				if !s3test.GroupAlive(pid) && runtime.GOOS != "windows" {
					t.Fatal("server not running while the test runs")
				}
			})
			if pid == 0 {
				t.Fatal("no pid")
			}
			// The subtest's cleanup has run: nothing of the server may be left.
			if s3test.GroupAlive(pid) {
				t.Fatalf("process group %d still alive after cleanup", pid)
			}
		})
	}
}

// roundTrip puts and gets an object with a plain SDK client, proving the bucket, the
// credentials and the client settings.
func roundTrip(t *testing.T, srv s3test.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		HTTPClient:   srv.HTTPClient,
	})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String("a/b"), Body: strings.NewReader("hello"),
	}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("a/b")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || string(b) != "hello" {
		t.Fatalf("get = %q, %v", b, err)
	}
	// The posix backend keeps the object as a plain file under Dir.
	if b, err := os.ReadFile(filepath.Join(srv.Dir, srv.Bucket, "a", "b")); err != nil || string(b) != "hello" {
		t.Fatalf("file = %q, %v", b, err)
	}
	// Wrong credentials are refused.
	bad := s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, "wrong", ""),
		HTTPClient:   srv.HTTPClient,
	})
	if _, err := bad.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(srv.Bucket)}); err == nil {
		t.Fatal("wrong secret accepted")
	}
}
