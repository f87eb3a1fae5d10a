// Package s3test runs a real S3 server for tests: versitygw's posix backend on loopback,
// serving a temporary directory, stopped when the test ends. It knows nothing of Aula's
// stores, so any package's tests can use it without an import cycle.
package s3test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Server is a running versitygw, with what a client needs to reach it.
type Server struct {
	// Endpoint is the base URL, "http://127.0.0.1:PORT" (https with StartTLS).
	Endpoint string
	// Region is the region the server signs for.
	Region string
	// Bucket exists already and is empty.
	Bucket string
	// AccessKey and SecretKey are the root account's, random for each server.
	AccessKey, SecretKey string
	// HTTPClient trusts the server (its certificate, with StartTLS) and uses no proxy;
	// its idle connections are closed when the test ends, so leak checks stay quiet.
	HTTPClient *http.Client
	// Dir is the posix backend's root: Dir/Bucket/<object name> are the objects.
	Dir string
	// Pid is the server's process ID, also its process group ID on Unix.
	Pid int
}

// Start runs versitygw over plain HTTP and creates an empty bucket.
func Start(tb testing.TB) Server {
	tb.Helper()
	return start(tb, false)
}

// StartTLS runs versitygw over HTTPS with a certificate made for the test, which
// Server.HTTPClient trusts.
func StartTLS(tb testing.TB) Server {
	tb.Helper()
	return start(tb, true)
}

const (
	region       = "us-east-1"
	bucket       = "aula-test"
	startTimeout = 20 * time.Second
	stopTimeout  = 5 * time.Second
)

func start(tb testing.TB, useTLS bool) Server {
	tb.Helper()
	bin := findBinary()
	if bin == "" {
		tb.Fatal("versitygw not found in $GOBIN, $(go env GOPATH)/bin or PATH: run make setup (installs versitygw)")
	}
	s := Server{
		Region:    region,
		Bucket:    bucket,
		AccessKey: "AK" + randomHex(tb, 9),
		SecretKey: randomHex(tb, 20),
		Dir:       filepath.Join(tb.TempDir(), "gw"),
	}
	if err := os.Mkdir(s.Dir, 0o750); err != nil {
		tb.Fatal(err)
	}
	transport := &http.Transport{Proxy: nil, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}
	var certFile, keyFile string
	if useTLS {
		var pool *x509.CertPool
		certFile, keyFile, pool = makeCert(tb)
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	s.HTTPClient = &http.Client{Transport: transport}
	tb.Cleanup(transport.CloseIdleConnections)

	// A port found free may be taken before versitygw binds it: try a few.
	var lastErr error
	for range 3 {
		port := freePort(tb)
		scheme := "http"
		if useTLS {
			scheme = "https"
		}
		s.Endpoint = fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
		args := []string{"--port", fmt.Sprintf("127.0.0.1:%d", port), "--region", region, "--quiet"}
		if useTLS {
			args = append(args, "--cert", certFile, "--key", keyFile)
		}
		args = append(args, "posix", s.Dir)
		p, err := launch(bin, args, s.AccessKey, s.SecretKey)
		if err != nil {
			tb.Fatalf("start versitygw: %v", err)
		}
		s.Pid = p.cmd.Process.Pid
		if err := s.createBucket(p); err != nil {
			p.stop()
			lastErr = fmt.Errorf("%w\nversitygw output:\n%s", err, p.log.String())
			continue
		}
		tb.Cleanup(func() {
			p.stop()
			if tb.Failed() {
				tb.Logf("versitygw output (tail):\n%s", p.log.String())
			}
		})
		return s
	}
	tb.Fatalf("start versitygw: %v", lastErr)
	return Server{}
}

// createBucket waits until the server accepts connections, then creates the bucket.
func (s *Server) createBucket(p *process) error {
	deadline := time.Now().Add(startTimeout)
	addr := strings.TrimPrefix(strings.TrimPrefix(s.Endpoint, "http://"), "https://")
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-p.done:
			return fmt.Errorf("versitygw exited: %v", p.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw did not listen within %v: %w", startTimeout, err)
		}
	}
	client := s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		HTTPClient:   s.HTTPClient,
	})
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) { // owned: an SDK retry created it
		return fmt.Errorf("create bucket: %w", err)
	}
	return nil
}

type process struct {
	cmd     *exec.Cmd
	log     *tailBuffer
	done    chan struct{} // closed once cmd.Wait has returned
	waitErr error
	once    sync.Once
}

func launch(bin string, args []string, access, secret string) (*process, error) {
	cmd := exec.Command(bin, args...)
	// A clean environment: the credentials go here rather than in argv, where ps would
	// show them, and no VGW_* or AWS_* variable of the developer's can change the server.
	cmd.Env = []string{
		"ROOT_ACCESS_KEY_ID=" + access,
		"ROOT_SECRET_ACCESS_KEY=" + secret,
		"PATH=/usr/bin:/bin",
	}
	log := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = log, log
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop ends the server's whole process group, politely first, and waits for it.
func (p *process) stop() {
	p.once.Do(func() {
		signalGroup(p.cmd.Process, false)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
		}
		signalGroup(p.cmd.Process, true) // whatever is left of the group, leader or not
		<-p.done
	})
}

func findBinary() string {
	const name = "versitygw"
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// makeCert writes a self-signed certificate for 127.0.0.1 and its key into a temporary
// directory.
func makeCert(tb testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "s3test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
