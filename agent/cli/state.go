package cli

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aulacapture/aula/agent/recording"
	"github.com/aulacapture/aula/agent/spool"
	"github.com/aulacapture/aula/agent/upload"
)

// stateReporter tells the server what this agent is doing (DESIGN: "State"), every
// interval, until its context ends. Only enrolled agents may report: a user's token is
// refused with 403, and the reporter then stops quietly.
type stateReporter struct {
	c        *upload.Client
	sp       *spool.Spool
	u        *upload.Uploader
	dir      string
	interval time.Duration
	log      *slog.Logger
	// state and recording are set by the recording as it goes.
	state     atomic.Value // string
	recording atomic.Value // string
}

func (r *stateReporter) set(state, rec string) {
	r.state.Store(state)
	r.recording.Store(rec)
}

func (r *stateReporter) snapshot() upload.AgentState {
	s := upload.AgentState{State: "idle"}
	if v, ok := r.state.Load().(string); ok && v != "" {
		s.State = v
	}
	s.Recording, _ = r.recording.Load().(string)
	if q, err := queueStatus(r.sp, r.u); err == nil {
		for _, rec := range q.Recordings {
			s.QueueSegments += rec.Pending + rec.Uploading
			s.QueueBytes += rec.PendingBytes
		}
	}
	if free, err := recording.FreeSpace(r.dir); err == nil {
		s.FreeBytes = int64(min(free, 1<<62))
	}
	if st := r.u.Status(); st.LastError != "" && time.Since(st.LastErrorAt) < 2*r.interval {
		s.LastError = st.LastError
	}
	return s
}

// run reports at once, then every interval, and a last time when ctx ends.
func (r *stateReporter) run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		if !r.report(ctx) {
			return
		}
		select {
		case <-ctx.Done():
			if s, _ := r.state.Load().(string); s != "error" {
				r.set("idle", "")
			}
			// A last report, brief: the agent is exiting.
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			r.report(last)
			cancel()
			return
		case <-t.C:
		}
	}
}

// report sends one report; false means stop (this credential may not report).
func (r *stateReporter) report(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := r.c.PutState(ctx, r.snapshot())
	var se *upload.StatusError
	if errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusNotFound) {
		r.log.Debug("state reports off: this credential is not an enrolled agent's", "status", se.Status)
		return false
	}
	if err != nil {
		r.log.Debug("state report failed", "err", err)
	}
	return true
}
