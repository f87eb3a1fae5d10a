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

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
)

// Client talks to one server's ingest API with one token.
type Client struct {
	// Base is the server's URL, such as https://127.0.0.1:8443; only https is accepted.
	Base *url.URL
	// Token is the API token (ingest scope).
	Token string
	// HTTP sends the requests; it must verify the server's certificate.
	HTTP *http.Client
}

// ErrServer reports an answer the server gave with an error status; the text carries
// the server's problem detail.
var ErrServer = errors.New("server refused")

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
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		TLSHandshakeTimeout: 15 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{Base: u, Token: token, HTTP: &http.Client{Transport: tr}}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, hdr map[string]string, out any) (int, error) {
	u := c.Base.JoinPath(path)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
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
	return c.putSealed(ctx, "/api/v1/recordings/"+recID+"/tracks/"+track+"/init", sealed)
}

// PutSegment uploads one sealed media segment. It succeeds only when the server
// answers 2xx with the digest of what was sent.
func (c *Client) PutSegment(ctx context.Context, recID, track string, seq int, sealed []byte) error {
	return c.putSealed(ctx, "/api/v1/recordings/"+recID+"/tracks/"+track+"/segments/"+strconv.Itoa(seq), sealed)
}

func (c *Client) putSealed(ctx context.Context, path string, sealed []byte) error {
	digest := manifest.Digest(sealed)
	var out struct {
		Digest string `json:"digest"`
	}
	_, err := c.do(ctx, http.MethodPut, path, sealed, map[string]string{
		"Content-Type": "application/octet-stream", "Content-Digest": digest,
	}, &out)
	if err != nil {
		return err
	}
	if out.Digest != digest {
		return fmt.Errorf("%s: the server acknowledged digest %q, not %q", path, out.Digest, digest)
	}
	return nil
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
