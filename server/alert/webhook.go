package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a webhook body's signature: "t=<unix seconds>,v1=<hex>",
// where v1 is HMAC-SHA256(secret, t + "." + body). A receiver recomputes it and
// refuses a t older than a few minutes, which bounds replays.
const SignatureHeader = "Aula-Signature"

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte("."))
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks header (a SignatureHeader value) against body and secret, and
// that it was made within tolerance of now; receivers of the webhook use it.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s ago", ErrStaleSignature, d.Round(time.Second))
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// webhook posts alerts from a bounded queue in a goroutine of its own.
type webhook struct {
	url     string
	secret  []byte
	client  *http.Client
	timeout time.Duration
	retries int
	wait    time.Duration
	now     func() time.Time
	queue   chan []byte
	failed  func(err error)
}

// run sends what is queued until the queue is closed or ctx ends.
func (w *webhook) run(ctx context.Context) {
	for body := range w.queue {
		if err := w.send(ctx, body); err != nil {
			w.failed(err)
		}
	}
}

// send posts body, retrying after network errors and 5xx, 408 and 429 answers.
func (w *webhook) send(ctx context.Context, body []byte) error {
	var err error
	for attempt := 0; attempt <= w.retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(w.wait << (attempt - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("alert webhook: %w (after: %w)", ctx.Err(), err)
			case <-t.C:
			}
		}
		var retry bool
		retry, err = w.post(ctx, body)
		if err == nil || !retry {
			return err
		}
	}
	return fmt.Errorf("alert webhook: gave up after %d attempts: %w", w.retries+1, err)
}

func (w *webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("alert webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aula-server")
	req.Header.Set(SignatureHeader, Sign(w.secret, w.now(), body))
	resp, err := w.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("alert webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("alert webhook: %w: %s", ErrWebhookRefused, resp.Status)
	}
	return false, fmt.Errorf("alert webhook: %w: %s", ErrWebhookRefused, resp.Status)
}

// noRedirects keeps a webhook from being sent on to another address.
func noRedirects(*http.Request, []*http.Request) error {
	return errors.New("alert webhook redirects are not followed")
}
