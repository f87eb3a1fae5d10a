package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a running fault-injecting TCP proxy. Its methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	ctx    context.Context // cancelled by Close; ends upstream dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection's goroutines

	closeOnce sync.Once
	closeErr  error
	stats     counters

	mu      sync.Mutex
	chooser *chooser
	conns   map[*conn]struct{}
	closed  bool
	onPlan  func(plan) // set by tests to watch the choices
}

// Stats counts what the proxy has done since it started.
type Stats struct {
	// Accepted counts every accepted connection, whatever its fault.
	Accepted int64
	// Reset, Stalled, Dropped and Refused count connections whose fault took effect:
	// a reset or stall whose byte offset was never reached is not counted.
	Reset, Stalled, Dropped, Refused int64
	// Cut counts connections ended by CutAll.
	Cut int64
	// ToTarget and ToClient count the bytes forwarded each way.
	ToTarget, ToClient int64
}

type counters struct {
	accepted, reset, stalled, dropped, refused, cut atomic.Int64
	toTarget, toClient                              atomic.Int64
}

// Start listens on a free port of 127.0.0.1 and forwards each connection to target,
// injecting the faults f describes.
func Start(target string, f Faults) (*Proxy, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target:  target,
		ln:      ln,
		ctx:     ctx,
		cancel:  cancel,
		chooser: newChooser(f),
		conns:   make(map[*conn]struct{}),
	}
	p.wg.Go(p.acceptLoop)
	return p, nil
}

// Addr is the address clients dial, "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetFaults replaces the faults for connections accepted from now on, and restarts the
// random sequence from f.Seed. Open connections keep the faults they were given.
func (p *Proxy) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	p.chooser = newChooser(f)
	p.mu.Unlock()
	return nil
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	s := &p.stats
	return Stats{
		Accepted: s.accepted.Load(),
		Reset:    s.reset.Load(),
		Stalled:  s.stalled.Load(),
		Dropped:  s.dropped.Load(),
		Refused:  s.refused.Load(),
		Cut:      s.cut.Load(),
		ToTarget: s.toTarget.Load(),
		ToClient: s.toClient.Load(),
	}
}

// CutAll resets every open connection, on both sides, as a network cut would. The proxy
// keeps accepting new connections.
func (p *Proxy) CutAll() {
	for _, c := range p.openConns() {
		if c.abort(true) {
			p.stats.cut.Add(1)
		}
	}
}

// Close stops listening, closes every connection and waits for the proxy's goroutines to
// end. Calling it again returns the first call's result.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		p.closeErr = p.ln.Close()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		for _, c := range p.openConns() {
			c.abort(false)
		}
	})
	p.wg.Wait()
	return p.closeErr
}

func (p *Proxy) openConns() []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Collect(maps.Keys(p.conns))
}

func (p *Proxy) acceptLoop() {
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off rather than spin.
			t := time.NewTimer(10 * time.Millisecond)
			select {
			case <-p.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		p.accept(nc.(*net.TCPConn))
	}
}

func (p *Proxy) accept(nc *net.TCPConn) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = nc.Close()
		return
	}
	pl := p.chooser.next()
	c := newConn(p, nc, p.chooser.f, pl)
	if pl.kind != kindRefuse {
		p.conns[c] = struct{}{}
	}
	hook := p.onPlan
	p.mu.Unlock()

	p.stats.accepted.Add(1)
	if hook != nil {
		hook(pl)
	}
	switch pl.kind {
	case kindRefuse:
		p.stats.refused.Add(1)
		closeConn(nc, true)
		return
	case kindDrop:
		p.stats.dropped.Add(1)
	}
	p.wg.Go(c.run)
}

func (p *Proxy) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// closeConn closes tc, with RST rather than FIN if rst.
func closeConn(tc *net.TCPConn, rst bool) {
	if rst {
		_ = tc.SetLinger(0)
	}
	_ = tc.Close()
}
