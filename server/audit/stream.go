package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"github.com/aulacapture/aula/server/store"
)

// StreamOptions says where a Stream copies events; empty fields are off.
type StreamOptions struct {
	// File is a file that receives each event as a JSON line, appended (made with mode
	// 0600 if missing).
	File string
	// Syslog is "local" for the local daemon, or "udp://HOST:PORT" or "tcp://HOST:PORT".
	Syslog string
	// Queue is how many events may wait to be written; 0 means 4096. When it is full,
	// events are dropped from the copies (never from the database) and logged.
	Queue int
	Log   *slog.Logger
}

// output is one place events are copied to.
type output interface {
	write(line []byte) error
	Close() error
}

// Stream copies committed audit events to a file and to syslog from a goroutine of
// its own, so no request waits on a disk or a network. Observe is its store.OnAudit
// function; Close writes what is queued and closes the outputs.
type Stream struct {
	log     *slog.Logger
	outs    []output
	names   []string
	mu      sync.Mutex // guards closed and sending on ch
	closed  bool
	ch      chan store.AuditEvent
	done    chan struct{}
	dropped int
}

// OpenStream opens the outputs o names and starts copying. It returns nil, nil when o
// names none.
func OpenStream(o StreamOptions) (*Stream, error) {
	s := &Stream{log: o.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if o.File != "" {
		f, err := os.OpenFile(o.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open audit file: %w", err)
		}
		if info, err := f.Stat(); err == nil && info.Mode().Perm()&0o077 != 0 && runtime.GOOS != "windows" {
			s.log.Warn("the audit file may be read by others than the server's user: chmod 600 it", "file", o.File, "mode", info.Mode().Perm().String())
		}
		s.outs, s.names = append(s.outs, fileOutput{f}), append(s.names, "file")
	}
	if o.Syslog != "" {
		out, err := openSyslog(o.Syslog)
		if err != nil {
			s.closeOutputs()
			return nil, err
		}
		s.outs, s.names = append(s.outs, out), append(s.names, "syslog")
	}
	if len(s.outs) == 0 {
		return nil, nil
	}
	q := o.Queue
	if q <= 0 {
		q = 4096
	}
	s.ch, s.done = make(chan store.AuditEvent, q), make(chan struct{})
	go s.run()
	return s, nil
}

// Observe queues e for the outputs without waiting.
func (s *Stream) Observe(e store.AuditEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.ch <- e:
	default:
		s.dropped++
		s.log.Error("audit copy queue full: event not copied to file or syslog (it is in the database)",
			"tenant", e.TenantID, "seq", e.Seq, "dropped", s.dropped)
	}
}

func (s *Stream) run() {
	defer close(s.done)
	for e := range s.ch {
		line := Line(e)
		for i, out := range s.outs {
			if err := out.write(line); err != nil {
				s.log.Error("audit copy failed", "output", s.names[i], "tenant", e.TenantID, "seq", e.Seq, "err", err)
			}
		}
	}
}

// Close writes the queued events, then closes the outputs.
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ch)
	s.mu.Unlock()
	<-s.done
	return s.closeOutputs()
}

func (s *Stream) closeOutputs() error {
	var errs []error
	for _, out := range s.outs {
		errs = append(errs, out.Close())
	}
	return errors.Join(errs...)
}

type fileOutput struct{ f *os.File }

func (o fileOutput) write(line []byte) error {
	_, err := o.f.Write(line)
	return err
}

func (o fileOutput) Close() error { return o.f.Close() }
