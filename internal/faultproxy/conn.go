package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	bufSize     = 32 << 10
	dialTimeout = 10 * time.Second
)

// conn is one proxied connection. Its run goroutine owns it and the second copying
// goroutine it starts; abort, from any goroutine, makes both return.
type conn struct {
	p      *Proxy
	client *net.TCPConn
	f      Faults // with defaults applied
	plan   plan
	done   chan struct{} // closed by abort

	mu       sync.Mutex
	upstream *net.TCPConn
	aborted  bool
	used     int           // bytes counted towards plan.offset
	fired    bool          // plan.offset reached
	resume   chan struct{} // non-nil during a stall, closed when it ends
}

func newConn(p *Proxy, client *net.TCPConn, f Faults, pl plan) *conn {
	return &conn{p: p, client: client, f: f, plan: pl, done: make(chan struct{})}
}

func (c *conn) run() {
	defer c.p.forget(c)
	defer c.abort(false)

	if c.plan.kind == kindDrop {
		// Read and discard, answer nothing. A FIN from the client may be only a
		// half-close, and a black hole passes on neither, so hold the connection until
		// the client resets it or the proxy cuts or closes.
		if _, err := io.Copy(io.Discard, c.client); err == nil {
			<-c.done
		}
		return
	}
	if !c.sleep(c.f.Latency) {
		return
	}
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(c.p.ctx, "tcp", c.p.target)
	if err != nil {
		c.abort(true) // the client sees the upstream failure as a reset
		return
	}
	up := nc.(*net.TCPConn)
	if !c.setUpstream(up) {
		return
	}

	var wg sync.WaitGroup
	wg.Go(func() { c.pipe(up, c.client, &c.p.stats.toTarget) })
	c.pipe(c.client, up, &c.p.stats.toClient)
	wg.Wait()
}

// setUpstream records up so abort closes it, or closes it if abort came first.
func (c *conn) setUpstream(up *net.TCPConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		_ = up.Close()
		return false
	}
	c.upstream = up
	return true
}

// abort closes both sides, with RST if rst, and reports whether this call did it.
func (c *conn) abort(rst bool) bool {
	c.mu.Lock()
	if c.aborted {
		c.mu.Unlock()
		return false
	}
	c.aborted = true
	up := c.upstream
	close(c.done)
	c.mu.Unlock()

	closeConn(c.client, rst)
	if up != nil {
		closeConn(up, rst)
	}
	return true
}

// pipe copies src to dst until src ends, passing an orderly end on as a half-close and
// anything else as a reset of the whole connection.
func (c *conn) pipe(dst, src *net.TCPConn, n *atomic.Int64) {
	buf := make([]byte, bufSize)
	var next time.Time // when the rate limit lets the next byte go
	for {
		m, err := src.Read(buf)
		if m > 0 && !c.forward(dst, buf[:m], n, &next) {
			return
		}
		if errors.Is(err, io.EOF) {
			_ = dst.CloseWrite()
			return
		}
		if err != nil {
			c.abort(true)
			return
		}
	}
}

// forward writes b to dst, applying the stall, reset and rate limit. It reports false when
// the connection is over.
func (c *conn) forward(dst *net.TCPConn, b []byte, n *atomic.Int64, next *time.Time) bool {
	for len(b) > 0 {
		if !c.waitStall() {
			return false
		}
		piece := b
		if bps := c.f.BytesPerSecond; bps > 0 {
			piece = b[:min(len(b), max(1, bps/50))] // about 20 ms of traffic at a time
		}
		allow, fire := c.reserve(len(piece))
		if allow > 0 {
			w, err := dst.Write(piece[:allow])
			n.Add(int64(w))
			if err != nil {
				c.abort(true)
				return false
			}
			if !c.pace(allow, next) {
				return false
			}
		}
		if fire {
			switch c.plan.kind {
			case kindReset:
				if c.abort(true) {
					c.p.stats.reset.Add(1)
				}
				return false
			case kindStall:
				c.p.stats.stalled.Add(1)
				if !c.stall() {
					return false
				}
			}
		}
		b = b[allow:]
	}
	return true
}

// reserve counts up to n bytes towards the planned offset and returns how many may be
// written now, and whether the offset is reached after them. A stall starts here, under
// the lock, so the other direction cannot slip bytes past it.
func (c *conn) reserve(n int) (allow int, fire bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fired || (c.plan.kind != kindReset && c.plan.kind != kindStall) {
		return n, false
	}
	left := c.plan.offset - c.used
	if n < left {
		c.used += n
		return n, false
	}
	c.used += left
	c.fired = true
	if c.plan.kind == kindStall {
		c.resume = make(chan struct{})
	}
	return left, true
}

// stall holds both directions for StallFor, unless the connection ends first.
func (c *conn) stall() bool {
	ok := c.sleep(c.f.StallFor)
	c.mu.Lock()
	close(c.resume)
	c.resume = nil
	c.mu.Unlock()
	return ok
}

// waitStall waits while a stall is under way.
func (c *conn) waitStall() bool {
	c.mu.Lock()
	ch := c.resume
	c.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-c.done:
		return false
	}
}

// pace sleeps so that k more bytes keep the direction within BytesPerSecond. Idle time
// earns no credit, so a burst after a pause is limited too.
func (c *conn) pace(k int, next *time.Time) bool {
	bps := c.f.BytesPerSecond
	if bps <= 0 {
		return true
	}
	if now := time.Now(); next.Before(now) {
		*next = now
	}
	*next = next.Add(time.Duration(int64(k) * int64(time.Second) / int64(bps)))
	return c.sleep(time.Until(*next))
}

// sleep waits for d and reports false if the connection ended first.
func (c *conn) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-c.done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}
