package blob_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aulacapture/aula/internal/s3test"
	"github.com/aulacapture/aula/server/blob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const benchSize = 1 << 20

// BenchmarkPutFS puts 1 MiB objects. The reference writes and fsyncs the same bytes
// into one file with plain os calls: no temporary file, rename or directory sync.
func BenchmarkPutFS(b *testing.B) {
	data := randomBytes(b, benchSize)
	s, err := blob.NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	refDir := b.TempDir()
	compare(b,
		func(b *testing.B, i int) {
			if err := s.Put(context.Background(), key(b, tenant, recording, "camera", i%16+1), bytes.NewReader(data), benchSize); err != nil {
				b.Fatal(err)
			}
		},
		func(b *testing.B, i int) {
			f, err := os.Create(filepath.Join(refDir, "obj"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
}

// BenchmarkPutS3 puts 1 MiB objects into versitygw. The reference sends the same bytes
// with a bare SDK PutObject (the SDK's own checksum; no copy, no checksum of ours).
func BenchmarkPutS3(b *testing.B) {
	data := randomBytes(b, benchSize)
	srv := s3test.Start(b)
	s := newS3(b, srv)
	client := s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		HTTPClient:   srv.HTTPClient,
	})
	compare(b,
		func(b *testing.B, i int) {
			if err := s.Put(context.Background(), key(b, tenant, recording, "camera", i%16+1), bytes.NewReader(data), benchSize); err != nil {
				b.Fatal(err)
			}
		},
		func(b *testing.B, i int) {
			if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(srv.Bucket), Key: aws.String("reference"),
				Body: bytes.NewReader(data), ContentLength: aws.Int64(benchSize),
			}); err != nil {
				b.Fatal(err)
			}
		})
}

// compare times put, which gives the MB/s, and after each put, with the benchmark's
// timer stopped, reference; interleaving the two keeps a disk's or a server's drift
// out of the ratio. It reports the reference's MB/s and put's speed as a multiple of it.
func compare(b *testing.B, put, reference func(b *testing.B, i int)) {
	b.SetBytes(benchSize)
	var putTime, refTime time.Duration
	i := 0
	for b.Loop() {
		t0 := time.Now()
		put(b, i)
		putTime += time.Since(t0)
		b.StopTimer()
		t0 = time.Now()
		reference(b, i)
		refTime += time.Since(t0)
		b.StartTimer()
		i++
	}
	if i > 0 && putTime > 0 && refTime > 0 {
		b.ReportMetric(float64(i)*benchSize/1e6/refTime.Seconds(), "ref-MB/s")
		b.ReportMetric(refTime.Seconds()/putTime.Seconds(), "x-ref")
	}
}
