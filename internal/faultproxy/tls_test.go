package faultproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// startHTTPS runs an httptest TLS server that echoes POST /echo and serves GET /item/{id}
// with a body made from id, recording which ids it served.
func startHTTPS(t *testing.T) (srv *httptest.Server, served func() map[string]bool) {
	t.Helper()
	var (
		mu  sync.Mutex
		ids = map[string]bool{}
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	})
	mux.HandleFunc("GET /item/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		mu.Lock()
		ids[id] = true
		mu.Unlock()
		_, _ = w.Write(itemBody(id))
	})
	srv = httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the resets are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(ids)
	}
}

func itemBody(id string) []byte {
	return bytes.Repeat([]byte("item "+id+"\n"), 16<<10)[:16<<10]
}

// client trusts srv's certificate (valid for 127.0.0.1, so for the proxy too) and closes
// its idle connections when the test ends.
func client(t *testing.T, srv *httptest.Server, timeout time.Duration) *http.Client {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

func TestHTTPS(t *testing.T) {
	srv, _ := startHTTPS(t)
	payload := randomBytes(t, 1<<20)
	tests := []struct {
		name    string
		faults  Faults
		timeout time.Duration
		check   func(t *testing.T, got []byte, err error, elapsed time.Duration)
	}{
		{
			name:    "no faults passes TLS intact",
			timeout: 10 * time.Second,
			check: func(t *testing.T, got []byte, err error, _ time.Duration) {
				if err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("got %d bytes, err %v; want the %d posted", len(got), err, len(payload))
				}
			},
		},
		{
			name:    "reset fails the request",
			faults:  Faults{Reset: 1, MaxBytes: 64 << 10},
			timeout: 10 * time.Second,
			check: func(t *testing.T, got []byte, err error, _ time.Duration) {
				if err == nil {
					t.Fatalf("got %d bytes through a reset", len(got))
				}
			},
		},
		{
			name:    "stall delays the request",
			faults:  Faults{Stall: 1, MaxBytes: 1 << 10, StallFor: 300 * time.Millisecond},
			timeout: 10 * time.Second,
			check: func(t *testing.T, got []byte, err error, elapsed time.Duration) {
				if err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("got %d bytes, err %v; want the %d posted", len(got), err, len(payload))
				}
				if elapsed < 280*time.Millisecond {
					t.Errorf("took %v, want at least 300ms", elapsed)
				}
			},
		},
		{
			name:    "drop times the client out",
			faults:  Faults{Drop: 1},
			timeout: 300 * time.Millisecond,
			check: func(t *testing.T, _ []byte, err error, elapsed time.Duration) {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("err %v, want a timeout", err)
				}
				if elapsed < 290*time.Millisecond || elapsed > 2*time.Second {
					t.Errorf("timed out after %v, want about 300ms", elapsed)
				}
			},
		},
		{
			name:    "refuse fails at once",
			faults:  Faults{Refuse: 1},
			timeout: 10 * time.Second,
			check: func(t *testing.T, _ []byte, err error, elapsed time.Duration) {
				if err == nil {
					t.Fatal("request through a refusing proxy succeeded")
				}
				if elapsed > time.Second {
					t.Errorf("failed after %v, want at once", elapsed)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startProxy(t, srv.Listener.Addr().String(), tt.faults)
			c := client(t, srv, tt.timeout)
			start := time.Now()
			got, err := post(c, "https://"+p.Addr()+"/echo", payload)
			tt.check(t, got, err, time.Since(start))
		})
	}
}

func post(c *http.Client, url string, body []byte) ([]byte, error) {
	resp, err := c.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// TestRetryingClientGetsThrough is the acceptance shape of issue 4: with connections reset
// and stalled at random, a client that retries gets every request through.
func TestRetryingClientGetsThrough(t *testing.T) {
	srv, served := startHTTPS(t)
	p := startProxy(t, srv.Listener.Addr().String(), Faults{
		Seed: 7, Reset: 0.3, Stall: 0.1, StallFor: 200 * time.Millisecond, MaxBytes: 32 << 10,
	})
	c := client(t, srv, 3*time.Second)
	// A connection per request, so each one draws its own fault.
	c.Transport.(*http.Transport).DisableKeepAlives = true

	const requests, attempts = 50, 30
	failures := 0
	for i := range requests {
		id := fmt.Sprint(i)
		var err error
		for range attempts {
			var got []byte
			got, err = get(c, "https://"+p.Addr()+"/item/"+id)
			if err == nil && !bytes.Equal(got, itemBody(id)) {
				err = fmt.Errorf("item %s: body of %d bytes differs", id, len(got))
			}
			if err == nil {
				break
			}
			failures++
		}
		if err != nil {
			t.Fatalf("item %s: failed %d times, last: %v", id, attempts, err)
		}
	}
	if n := len(served()); n != requests {
		t.Errorf("server served %d distinct items, want %d", n, requests)
	}
	s := p.Stats()
	t.Logf("%d failed attempts; proxy %+v", failures, s)
	if s.Reset == 0 {
		t.Error("no connection was reset: the faults were not exercised")
	}
}

func get(c *http.Client, url string) ([]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
