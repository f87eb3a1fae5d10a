package faultproxy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startEcho runs a TCP echo server on loopback until the test ends. It half-closes after
// echoing everything, so a client that half-closes reads the echo to EOF.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				_, _ = io.Copy(c, c)
				_ = c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func startProxy(t *testing.T, target string, f Faults) *Proxy {
	t.Helper()
	p, err := Start(target, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip sends data, half-closes, and reads what comes back until EOF or an error.
func roundTrip(c *net.TCPConn, data []byte) ([]byte, error) {
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	_ = c.Close() // unblocks the writer if the read ended early
	<-werr        // a write error after a read error adds nothing
	return got, err
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// eventually polls cond for up to two seconds: counters move just after the client sees
// the effect.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("%s: not after 2s", what)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

func TestEcho(t *testing.T) {
	echo := startEcho(t)
	type result struct {
		sent, got []byte
		err       error
		elapsed   time.Duration
		stats     func() Stats
	}
	tests := []struct {
		name     string
		faults   Faults
		size     int
		deadline time.Duration // on the client connection, if positive
		check    func(t *testing.T, r result)
	}{
		{
			name: "no faults passes bytes intact",
			size: 1 << 20,
			check: func(t *testing.T, r result) {
				if r.err != nil || !bytes.Equal(r.got, r.sent) {
					t.Fatalf("got %d bytes, err %v; want the %d sent back", len(r.got), r.err, len(r.sent))
				}
				eventually(t, "1 MiB each way counted", func() bool {
					s := r.stats()
					return s.Accepted == 1 && s.ToTarget == 1<<20 && s.ToClient == 1<<20
				})
			},
		},
		{
			name:   "reset ends the connection early",
			faults: Faults{Reset: 1, MaxBytes: 64 << 10},
			size:   1 << 20,
			check: func(t *testing.T, r result) {
				if r.err == nil && len(r.got) == len(r.sent) {
					t.Fatal("got the full echo through a reset")
				}
				if r.err != nil && !errors.Is(r.err, syscall.ECONNRESET) {
					t.Fatalf("err %v, want ECONNRESET or a short read", r.err)
				}
				eventually(t, "one reset counted", func() bool { return r.stats().Reset == 1 })
			},
		},
		{
			name:   "stall delays by StallFor",
			faults: Faults{Stall: 1, MaxBytes: 4 << 10, StallFor: 400 * time.Millisecond},
			size:   64 << 10,
			check: func(t *testing.T, r result) {
				if r.err != nil || !bytes.Equal(r.got, r.sent) {
					t.Fatalf("got %d bytes, err %v; want the %d sent back", len(r.got), r.err, len(r.sent))
				}
				if r.elapsed < 380*time.Millisecond || r.elapsed > 1400*time.Millisecond {
					t.Errorf("took %v, want about 400ms", r.elapsed)
				}
				if s := r.stats(); s.Stalled != 1 {
					t.Errorf("Stalled = %d, want 1", s.Stalled)
				}
			},
		},
		{
			name:     "drop makes the client time out",
			faults:   Faults{Drop: 1},
			size:     1 << 10,
			deadline: 300 * time.Millisecond,
			check: func(t *testing.T, r result) {
				if !errors.Is(r.err, os.ErrDeadlineExceeded) {
					t.Fatalf("err %v, want a timeout", r.err)
				}
				if len(r.got) != 0 {
					t.Errorf("got %d bytes from a black hole", len(r.got))
				}
				if s := r.stats(); s.Dropped != 1 || s.ToTarget != 0 {
					t.Errorf("stats %+v, want one dropped and nothing forwarded", s)
				}
			},
		},
		{
			name:   "refuse fails at once",
			faults: Faults{Refuse: 1},
			size:   1 << 10,
			check: func(t *testing.T, r result) {
				if r.err == nil && len(r.got) == len(r.sent) {
					t.Fatal("got the echo through a refused connection")
				}
				if r.err != nil && !isReset(r.err) {
					t.Errorf("err %v, want ECONNRESET or EOF", r.err)
				}
				if r.elapsed > time.Second {
					t.Errorf("took %v, want an immediate failure", r.elapsed)
				}
				if s := r.stats(); s.Refused != 1 {
					t.Errorf("Refused = %d, want 1", s.Refused)
				}
			},
		},
		{
			name:   "latency is added once",
			faults: Faults{Latency: 200 * time.Millisecond},
			size:   64 << 10,
			check: func(t *testing.T, r result) {
				if r.err != nil || !bytes.Equal(r.got, r.sent) {
					t.Fatalf("got %d bytes, err %v; want the %d sent back", len(r.got), r.err, len(r.sent))
				}
				if r.elapsed < 190*time.Millisecond || r.elapsed > 900*time.Millisecond {
					t.Errorf("took %v, want about 200ms", r.elapsed)
				}
			},
		},
		{
			name:   "bytes per second limits throughput",
			faults: Faults{BytesPerSecond: 512 << 10},
			size:   256 << 10, // half a second each way, the two ways overlapping
			check: func(t *testing.T, r result) {
				if r.err != nil || !bytes.Equal(r.got, r.sent) {
					t.Fatalf("got %d bytes, err %v; want the %d sent back", len(r.got), r.err, len(r.sent))
				}
				const want = 500 * time.Millisecond
				if r.elapsed < want*7/10 || r.elapsed > want*13/10 {
					t.Errorf("took %v, want %v ± 30%%", r.elapsed, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startProxy(t, echo, tt.faults)
			r := result{sent: randomBytes(t, tt.size), stats: p.Stats}
			start := time.Now()
			// A refusal's RST can beat the end of the client's connect, so it may
			// show as a dial error.
			nc, err := net.Dial("tcp", p.Addr())
			if err != nil {
				r.err = err
			} else {
				c := nc.(*net.TCPConn)
				if tt.deadline > 0 {
					_ = c.SetDeadline(time.Now().Add(tt.deadline))
				}
				r.got, r.err = roundTrip(c, r.sent)
			}
			r.elapsed = time.Since(start)
			tt.check(t, r)
		})
	}
}

func TestCutAll(t *testing.T) {
	p := startProxy(t, startEcho(t), Faults{})
	var conns []*net.TCPConn
	for range 3 {
		c := dial(t, p.Addr())
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	p.CutAll()
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 1))
		if !isReset(err) {
			t.Errorf("conn %d: read after cut: %v, want ECONNRESET or EOF", i, err)
		}
	}
	if s := p.Stats(); s.Cut != 3 {
		t.Errorf("Cut = %d, want 3", s.Cut)
	}

	// A cut is not a close: new connections still go through.
	c := dial(t, p.Addr())
	sent := []byte("after the cut")
	if got, err := roundTrip(c, sent); err != nil || !bytes.Equal(got, sent) {
		t.Errorf("round trip after cut: %q, %v", got, err)
	}
}

func TestSameSeedSameChoices(t *testing.T) {
	echo := startEcho(t)
	faults := Faults{Reset: 0.2, Stall: 0.2, Drop: 0.2, Refuse: 0.2, MaxBytes: 1000, StallFor: time.Millisecond}
	const n = 40

	// choices dials n connections one at a time and returns the plans they were given.
	choices := func(t *testing.T, p *Proxy) []plan {
		t.Helper()
		seen := make(chan plan, n)
		p.mu.Lock()
		p.onPlan = func(pl plan) { seen <- pl }
		p.mu.Unlock()
		var plans []plan
		for range n {
			// A refused connection may fail its dial; it was accepted all the same.
			c, err := net.Dial("tcp", p.Addr())
			plans = append(plans, <-seen) // waits for the accept, so the order is fixed
			if err == nil {
				_ = c.Close()
			}
		}
		return plans
	}

	f42 := faults
	f42.Seed = 42
	a, b := startProxy(t, echo, f42), startProxy(t, echo, f42)
	f43 := faults
	f43.Seed = 43
	c := startProxy(t, echo, f43)

	pa, pb, pc := choices(t, a), choices(t, b), choices(t, c)
	kinds := map[kind]int{}
	for i := range n {
		if pa[i] != pb[i] {
			t.Errorf("connection %d: seed 42 gave %v then %v", i, pa[i], pb[i])
		}
		kinds[pa[i].kind]++
	}
	if len(kinds) != 5 {
		t.Errorf("kinds drawn %v, want all five among %d connections", kinds, n)
	}
	same := 0
	for i := range n {
		if pa[i] == pc[i] {
			same++
		}
	}
	if same == n {
		t.Error("seeds 42 and 43 gave the same sequence")
	}

	// SetFaults restarts the sequence from its seed.
	if err := b.SetFaults(f42); err != nil {
		t.Fatal(err)
	}
	again := choices(t, b)
	for i := range n {
		if again[i] != pa[i] {
			t.Fatalf("after SetFaults, connection %d got %v, want %v", i, again[i], pa[i])
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		field  string // in the error; empty for valid
	}{
		{"zero", Faults{}, ""},
		{"all at most one", Faults{Reset: 0.25, Stall: 0.25, Drop: 0.25, Refuse: 0.25}, ""},
		{"negative probability", Faults{Stall: -0.1}, "Stall"},
		{"probability above one", Faults{Drop: 1.5}, "Drop"},
		{"sum above one", Faults{Reset: 0.6, Refuse: 0.6}, "Reset+Stall+Drop+Refuse"},
		{"negative MaxBytes", Faults{MaxBytes: -1}, "MaxBytes"},
		{"negative StallFor", Faults{StallFor: -time.Second}, "StallFor"},
		{"negative Latency", Faults{Latency: -time.Second}, "Latency"},
		{"negative BytesPerSecond", Faults{BytesPerSecond: -1}, "BytesPerSecond"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.faults.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.field != "" && (!errors.Is(err, ErrInvalidFaults) || !strings.Contains(err.Error(), tt.field)):
				t.Fatalf("Validate: %v, want ErrInvalidFaults naming %s", err, tt.field)
			}
			if tt.field != "" {
				if _, err := Start("127.0.0.1:1", tt.faults); err == nil {
					t.Error("Start accepted invalid faults")
				}
			}
		})
	}
}
