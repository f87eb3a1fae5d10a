// Package upload sends recordings to the Aula server: the ingest API's client, and the
// upload of a finished recording folder, each file sealed to the tenant's key before it
// leaves the machine.
package upload

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/oauth2"

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
)

// Client talks to one server's ingest API with one token.
type Client struct {
	// Base is the server's URL, such as https://127.0.0.1:8443; only https is accepted.
	Base *url.URL
	// Token is the API token (ingest scope).
	Token string
	// Tokens, when set, gives a fresh OAuth access token for each request instead of
	// Token (an enrolled agent's client credentials, or a signed-in recorder's refresh
	// token).
	Tokens oauth2.TokenSource
	// HTTP sends the requests; it must verify the server's certificate.
	HTTP *http.Client
}

// ErrServer reports an answer the server gave with an error status; the text carries
// the server's problem detail.
var ErrServer = errors.New("server refused")

// ErrCertificate reports a server whose TLS certificate failed verification: nothing
// was sent to it.
var ErrCertificate = errors.New("server certificate not trusted")

// certError turns a failed certificate verification into a sentence that says what to do.
func certError(host string, err error) error {
	var cve *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &cve) && !errors.As(err, &unknown) && !errors.As(err, &hostErr) && !errors.As(err, &invalid) {
		return err
	}
	why := err.Error()
	if cve != nil {
		why = cve.Err.Error()
	}
	return fmt.Errorf("%w: %s presented a certificate that does not verify (%s); nothing was sent. "+
		"If this is your server with its self-signed certificate, pass --server-ca with its DATA/tls/cert.pem", ErrCertificate, host, why)
}

// ErrCredential reports that the server refused the agent's OAuth credential: revoked,
// or the sign-in expired.
var ErrCredential = errors.New("the server refused this agent's credential")

// tokenError explains a failure to get an access token.
func tokenError(host string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && (re.ErrorCode == "invalid_client" || re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client") {
		return fmt.Errorf("%w (%s): it was revoked, or the sign-in expired; enroll again with 'aula-agent enroll' or sign in with 'aula-agent login'", ErrCredential, re.ErrorCode)
	}
	return fmt.Errorf("get an access token from %s: %w", host, certError(host, err))
}

// StatusError is an error answer of the server.
type StatusError struct {
	Status int
	Detail string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", ErrServer, e.Status, e.Detail)
}

func (e *StatusError) Unwrap() error { return ErrServer }

// NewClient makes a client for server (an https URL). caFile, when not empty, is a PEM
// certificate to trust besides the system's (such as the server's self-signed
// DATA/tls/cert.pem).
func NewClient(server, token, caFile string) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("server %q is not a URL such as https://host:8443", server)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("server %q: only https is allowed, so recordings never cross the network in the clear", server)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read server certificate: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		tlsCfg.RootCAs = pool
	}
	// HTTP/1.1, one connection per upload in flight, rather than HTTP/2's one shared
	// connection: the server decrypts each connection's TLS on its own goroutine and
	// reads the body straight into its buffer, where HTTP/2 funnels every stream through
	// one connection's reader and copies each frame once more (measured with
	// make bench-ingest: 5.1 against 7.0 ms of server CPU per MB); and each connection
	// has its own TCP window, where Go's HTTP/2 server caps a connection's uploads at
	// 1 MB in flight, which on a 50 ms path is 20 MB/s for all of them together.
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 16,
		TLSHandshakeTimeout: 15 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
	hc := &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		// The ingest API never redirects; following one could leave https or the server.
		return fmt.Errorf("the server redirected to %s: refused", req.URL.Redacted())
	}}
	return &Client{Base: u, Token: token, HTTP: hc}, nil
}

// Limiter paces uploaded bytes (a bandwidth limit); nil means no limit.
type Limiter interface {
	WaitN(ctx context.Context, n int) error
	Burst() int
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, hdr map[string]string, out any) (int, error) {
	return c.doLimited(ctx, method, path, body, hdr, out, nil)
}

func (c *Client) doLimited(ctx context.Context, method, path string, body []byte, hdr map[string]string, out any, lim Limiter) (int, error) {
	u := c.Base.JoinPath(path)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
		if lim != nil {
			rd = &pacedReader{ctx: ctx, r: rd, lim: lim}
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) {
			var r io.Reader = bytes.NewReader(body)
			if lim != nil {
				r = &pacedReader{ctx: ctx, r: r, lim: lim}
			}
			return io.NopCloser(r), nil
		}
	}
	token := c.Token
	if c.Tokens != nil {
		t, err := c.Tokens.Token()
		if err != nil {
			return 0, tokenError(c.Base.Host, err)
		}
		token = t.AccessToken
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, certError(c.Base.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, manifest.MaxSize))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(data, &p)
		if p.Detail == "" {
			p.Detail = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, &StatusError{Status: resp.StatusCode, Detail: p.Detail}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("read server answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// Recipient fetches the tenant's age recipient that segments are sealed to.
func (c *Client) Recipient(ctx context.Context) (*age.X25519Recipient, error) {
	var out struct {
		Recipient string `json:"recipient"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/tenant/recipient", nil, nil, &out); err != nil {
		return nil, err
	}
	return seal.ParseRecipient(out.Recipient)
}

// pacedReader reads no faster than its limiter allows.
type pacedReader struct {
	ctx context.Context
	r   io.Reader
	lim Limiter
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if n := p.lim.Burst(); len(b) > n {
		b = b[:n]
	}
	n, err := p.r.Read(b)
	if n > 0 {
		if werr := p.lim.WaitN(p.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// SealedManifestType is the Content-Type of a manifest sealed to the tenant's recipient.
const SealedManifestType = "application/age"

// PutSealedRecording announces a recording with its manifest sealed to the tenant (as
// the spool holds it); the server opens it.
func (c *Client) PutSealedRecording(ctx context.Context, id string, sealed []byte) error {
	_, err := c.do(ctx, http.MethodPut, "/api/v1/recordings/"+id, sealed, map[string]string{"Content-Type": SealedManifestType}, nil)
	return err
}

// CompleteSealed hands the server the final manifest, sealed.
func (c *Client) CompleteSealed(ctx context.Context, id string, sealed []byte) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/recordings/"+id+"/complete", sealed, map[string]string{"Content-Type": SealedManifestType}, nil)
	return err
}

// PutSealed uploads sealed bytes whose digest the caller knows (init when seq is 0, else
// media segment seq), paced by lim (nil: no limit). It succeeds only when the server
// answers 2xx with that digest.
func (c *Client) PutSealed(ctx context.Context, recID, track string, seq int, sealed []byte, digest string, lim Limiter) error {
	path := "/api/v1/recordings/" + recID + "/tracks/" + track + "/segments/" + strconv.Itoa(seq)
	if seq == 0 {
		path = "/api/v1/recordings/" + recID + "/tracks/" + track + "/init"
	}
	var out struct {
		Digest string `json:"digest"`
	}
	_, err := c.doLimited(ctx, http.MethodPut, path, sealed, map[string]string{
		"Content-Type": "application/octet-stream", "Content-Digest": digest,
	}, &out, lim)
	if err != nil {
		return err
	}
	if out.Digest != digest {
		return fmt.Errorf("%s: %w: the server acknowledged digest %q, not %q", path, errAckDigest, out.Digest, digest)
	}
	return nil
}

var errAckDigest = errors.New("acknowledged digest differs")

// PutRecording announces a recording (or updates its title, state and tracks).
func (c *Client) PutRecording(ctx context.Context, m *manifest.Manifest) error {
	var b bytes.Buffer
	if err := m.Encode(&b); err != nil {
		return err
	}
	_, err := c.do(ctx, http.MethodPut, "/api/v1/recordings/"+m.ID, b.Bytes(), map[string]string{"Content-Type": "application/json"}, nil)
	return err
}

// PutInit uploads a track's sealed init segment.
func (c *Client) PutInit(ctx context.Context, recID, track string, sealed []byte) error {
	return c.PutSealed(ctx, recID, track, 0, sealed, manifest.Digest(sealed), nil)
}

// PutSegment uploads one sealed media segment. It succeeds only when the server
// answers 2xx with the digest of what was sent.
func (c *Client) PutSegment(ctx context.Context, recID, track string, seq int, sealed []byte) error {
	return c.PutSealed(ctx, recID, track, seq, sealed, manifest.Digest(sealed), nil)
}

// Manifest fetches what the server holds of a recording.
func (c *Client) Manifest(ctx context.Context, recID string) (*manifest.Manifest, error) {
	var m manifest.Manifest
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/recordings/"+recID+"/manifest", nil, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Complete hands the server the final manifest.
func (c *Client) Complete(ctx context.Context, m *manifest.Manifest) error {
	var b bytes.Buffer
	if err := m.Encode(&b); err != nil {
		return err
	}
	_, err := c.do(ctx, http.MethodPost, "/api/v1/recordings/"+m.ID+"/complete", b.Bytes(), map[string]string{"Content-Type": "application/json"}, nil)
	return err
}

// CertError turns a failed certificate verification of host into a sentence that says
// what to do; other errors come back as they are.
func CertError(host string, err error) error { return certError(host, err) }

// AgentState is what an enrolled agent reports of itself (PUT /api/v1/agents/self/state).
type AgentState struct {
	State         string   `json:"state"` // idle, capturing, uploading or error
	Recording     string   `json:"recording,omitempty"`
	QueueSegments int      `json:"queue_segments"`
	QueueBytes    int64    `json:"queue_bytes"`
	FreeBytes     int64    `json:"free_bytes"`
	AudioLevel    *float64 `json:"audio_level,omitempty"` // dBFS; nil while unmeasured
	LastError     string   `json:"last_error,omitempty"`
}

// PutState reports the agent's state. Only an enrolled agent's credential may; a user's
// token gets a StatusError with 403.
func (c *Client) PutState(ctx context.Context, s AgentState) error {
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPut, "/api/v1/agents/self/state", body, map[string]string{"Content-Type": "application/json"}, nil)
	return err
}
