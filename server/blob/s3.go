package blob

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Part sizes of S3 uploads; see S3Config.PartSize.
const (
	// DefaultPartSize is comfortably more than a 2-second segment of a 4K screen, so a
	// segment goes in one request.
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's smallest part of a multipart upload, the last one excepted.
	MinPartSize = 5 << 20
	// maxParts is S3's limit on the parts of one upload.
	maxParts = 10_000
)

// S3Config says which bucket an S3 store uses and how to reach it. Nothing is read from
// the environment or from shared AWS config files.
type S3Config struct {
	// Endpoint is the service's base URL, such as "https://s3.eu-central-1.amazonaws.com"
	// or "http://127.0.0.1:7070"; empty means AWS's endpoint for Region.
	Endpoint string
	// Region is the bucket's region, used for signing; empty means "us-east-1".
	Region string
	// Bucket is the bucket's name; required.
	Bucket string
	// AccessKey is the access key ID; required.
	AccessKey string
	// SecretKey is the secret access key; required, and never logged or put in an error.
	SecretKey string
	// PathStyle addresses the bucket as a path ("endpoint/bucket/key") rather than as a
	// host name; most self-hosted services need it.
	PathStyle bool
	// CreateBucket makes NewS3 create the bucket when it does not exist.
	CreateBucket bool
	// PartSize bounds the memory one Put holds: a body of at most PartSize bytes goes in
	// one PutObject, a larger one as a multipart upload in parts of PartSize bytes. Zero
	// means DefaultPartSize; less than MinPartSize is an error.
	PartSize int64
	// HTTPClient sends the requests; nil means the SDK's default client, without proxies
	// from the environment. Set it to trust a private CA.
	HTTPClient *http.Client
}

// S3 is a Store of objects in one S3 bucket, named by their keys.
type S3 struct {
	client   *s3.Client
	bucket   string
	partSize int64
}

var (
	_ Store   = (*S3)(nil)
	_ Deleter = (*S3)(nil)
	_ Lister  = (*S3)(nil)
	_ Stater  = (*S3)(nil)
)

// NewS3 checks cfg, connects and checks that the bucket is there (creating it if
// cfg.CreateBucket says so), so that a bad configuration fails at start.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 config: Bucket is empty")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3 config: AccessKey and SecretKey are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("s3 config: Endpoint %q is not an http(s)://host URL", cfg.Endpoint)
		}
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < MinPartSize {
		return nil, fmt.Errorf("s3 config: PartSize %d is below S3's minimum of %d", partSize, MinPartSize)
	}
	opts := s3.Options{
		Region:       cfg.Region,
		UsePathStyle: cfg.PathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		// Multipart objects carry composite checksums, which the SDK cannot validate.
		DisableLogOutputChecksumValidationSkipped: true,
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	} else {
		opts.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.Proxy = nil
		})
	}
	s := &S3{client: s3.New(opts), bucket: cfg.Bucket, partSize: partSize}
	if err := s.ensureBucket(ctx, cfg.CreateBucket, cfg.Region); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *S3) ensureBucket(ctx context.Context, create bool, region string) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("s3 bucket %q: %w", s.bucket, err)
	}
	if !create {
		return fmt.Errorf("s3 bucket %q does not exist", s.bucket)
	}
	in := &s3.CreateBucketInput{Bucket: &s.bucket}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err = s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) { // owned: another server instance won the race
		return fmt.Errorf("create s3 bucket %q: %w", s.bucket, err)
	}
	return nil
}

// Put reads the body into memory, a part at a time, and sends each request with its
// CRC32 in a header, which the server checks before it stores anything. A body of at
// most PartSize bytes goes in one PutObject; a larger one in a multipart upload, which
// is aborted if anything fails. Either way S3 shows the object only once it is whole.
//
// Why not stream: a body that fails midway must not become an object. Some servers
// (versitygw 1.8 over HTTPS, for one) store the truncated body of a request whose
// connection breaks unless a checksum sent up front shows it incomplete; and without
// TLS the SDK can neither sign nor checksum a body it cannot read twice.
func (s *S3) Put(ctx context.Context, key Key, r io.Reader, size int64) error {
	if err := key.check(); err != nil {
		return err
	}
	if err := checkSize(size); err != nil {
		return err
	}
	if parts := (size + s.partSize - 1) / s.partSize; parts > maxParts {
		return fmt.Errorf("put %s: %d bytes need %d parts of %d, more than S3's %d", key, size, parts, s.partSize, maxParts)
	}
	body := newExactReader(ctx, r, size)
	if size > s.partSize {
		if err := s.putMultipart(ctx, key, body, size); err != nil {
			return fmt.Errorf("put %s: %w", key, withCause(ctx, err))
		}
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, 1<<20))) // grow with the data, not with what size claims
	if _, err := buf.ReadFrom(body); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           aws.String(key.String()),
		Body:          bytes.NewReader(buf.Bytes()),
		ContentLength: aws.Int64(size),
		ContentType:   aws.String("application/octet-stream"),
		ChecksumCRC32: aws.String(crc32Base64(buf.Bytes())),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, withCause(ctx, err))
	}
	return nil
}

func (s *S3) putMultipart(ctx context.Context, key Key, body *exactReader, size int64) (err error) {
	name := aws.String(key.String())
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            &s.bucket,
		Key:               name,
		ContentType:       aws.String("application/octet-stream"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		// A full-object CRC32 (not a checksum of part checksums) lets Get check the body.
		ChecksumType: types.ChecksumTypeFullObject,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		// Abort even when ctx is done, or the parts would stay (and be billed) until a
		// lifecycle rule removes them.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: &s.bucket, Key: name, UploadId: up.UploadId,
		}); aerr != nil {
			err = errors.Join(err, fmt.Errorf("abort multipart upload: %w", aerr))
		}
	}()
	buf := make([]byte, s.partSize)
	var parts []types.CompletedPart
	var whole uint32 // CRC32 of the body so far
	for left, num := size, int32(1); left > 0; num++ {
		part := buf[:min(left, s.partSize)]
		if _, err := io.ReadFull(body, part); err != nil {
			return err
		}
		left -= int64(len(part))
		whole = crc32.Update(whole, crc32.IEEETable, part)
		sum := crc32Base64(part)
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        &s.bucket,
			Key:           name,
			UploadId:      up.UploadId,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(part),
			ContentLength: aws.Int64(int64(len(part))),
			ChecksumCRC32: aws.String(sum),
		})
		if err != nil {
			return fmt.Errorf("upload part %d: %w", num, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: aws.String(sum)})
	}
	// The body must end exactly here: exactReader reports a longer one.
	if _, err := body.Read(buf[:1]); err != io.EOF {
		return err
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &s.bucket,
		Key:             name,
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		ChecksumCRC32:   aws.String(crc32Encode(whole)),
		ChecksumType:    types.ChecksumTypeFullObject,
	})
	return err
}

// crc32Base64 gives b's CRC32 (IEEE) in the form of the x-amz-checksum-crc32 header.
func crc32Base64(b []byte) string { return crc32Encode(crc32.ChecksumIEEE(b)) }

func crc32Encode(sum uint32) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, sum))
}

// Get opens the object. Its reader stops working once ctx is done; it fails if the
// bytes do not match the checksum stored with a single-part object.
func (s *S3) Get(ctx context.Context, key Key) (io.ReadCloser, error) {
	if err := key.check(); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:       &s.bucket,
		Key:          aws.String(key.String()),
		ChecksumMode: types.ChecksumModeEnabled, // the SDK checks the body against it
	})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("get %s: %w", key, withCause(ctx, err))
	}
	return out.Body, nil
}

// Delete removes the object; S3 itself treats a missing one as deleted.
func (s *S3) Delete(ctx context.Context, key Key) error {
	if err := key.check(); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(key.String())})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", key, withCause(ctx, err))
	}
	return nil
}

// Stat gives the object's size with a HEAD request.
func (s *S3) Stat(ctx context.Context, key Key) (int64, error) {
	if err := key.check(); err != nil {
		return 0, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(key.String())})
	if err != nil {
		if isNotFound(err) {
			return 0, fmt.Errorf("stat %s: %w", key, ErrNotFound)
		}
		return 0, fmt.Errorf("stat %s: %w", key, withCause(ctx, err))
	}
	return aws.ToInt64(out.ContentLength), nil
}

// List pages through ListObjectsV2; objects whose names are not keys are skipped.
func (s *S3) List(ctx context.Context, prefix Prefix) ([]Key, error) {
	if err := prefix.check(); err != nil {
		return nil, err
	}
	var keys []Key
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket,
		Prefix: aws.String(prefix.String()),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, withCause(ctx, err))
		}
		for _, o := range page.Contents {
			k, err := ParseKey(aws.ToString(o.Key))
			if err == nil && prefix.Contains(k) {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// isNotFound tells a missing object from other failures. A missing bucket is a
// configuration fault, not a missing object.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// withCause makes sure a failure caused by ctx matches context.Canceled or
// context.DeadlineExceeded with errors.Is, whatever the SDK wrapped.
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w (%w)", cause, err)
	}
	return err
}
