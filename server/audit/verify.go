package audit

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// Chain is what Verify reads; *store.Store is one.
type Chain interface {
	WalkAudit(ctx context.Context, tenantID string, since time.Time, fn func(store.AuditEvent) error) error
	AuditHead(ctx context.Context, tenantID string) (seq int64, mac []byte, err error)
}

// Kinds of damage Verify reports.
const (
	Edited    = "edited"
	Removed   = "removed"
	Inserted  = "inserted"
	Reordered = "reordered"
)

// Problem is the first damage Verify found in a chain.
type Problem struct {
	Kind    string // Edited, Removed, Inserted or Reordered
	Seq     int64  // where in the chain: the seq the damaged event holds now, or the first missing one
	ID      string // the event concerned, if one is left
	Message string // one plain sentence
}

// Report is the outcome of verifying one tenant's chain.
type Report struct {
	TenantID string
	Events   int   // events read
	Head     int64 // the seq of the last event, as the chain's head records it
	// Unchained counts events from before the chain that the tenant's next event will
	// chain; they are not evidence of tampering.
	Unchained int
	// Problem is the first damage found, or nil.
	Problem *Problem
}

// OK reports whether the chain is intact.
func (r Report) OK() bool { return r.Problem == nil }

// lookahead caps the events read after the first damaged one to tell what happened.
const lookahead = 10000

var errStop = errors.New("stop")

// Verify walks the tenant's audit chain with mac and reports the first event that was
// edited, removed, inserted or reordered. Events appended while it runs are accepted
// if they extend the chain correctly. An error means the chain could not be read.
func Verify(ctx context.Context, c Chain, tenantID string, mac store.AuditMAC) (Report, error) {
	rep := Report{TenantID: tenantID}
	headSeq, headMAC, err := c.AuditHead(ctx, tenantID)
	if err != nil {
		return rep, err
	}
	rep.Head = headSeq
	var (
		prev   []byte
		next   int64 = 1 // the seq expected next
		bad    *store.AuditEvent
		after  []store.AuditEvent // events after bad, for telling what happened
		atHead []byte             // the MAC of the event at seq headSeq, once read
		prevID string
	)
	err = c.WalkAudit(ctx, tenantID, time.Time{}, func(e store.AuditEvent) error {
		rep.Events++
		if bad != nil {
			after = append(after, e)
			if len(after) >= lookahead {
				return errStop
			}
			return nil
		}
		if e.Seq == 0 && headSeq == 0 {
			rep.Unchained++
			return nil
		}
		if e.Seq > 0 && e.Seq == next && len(e.MAC) > 0 && hmac.Equal(mac(prev, e), e.MAC) {
			prev, prevID, next = e.MAC, e.ID, e.Seq+1
			if e.Seq == headSeq {
				atHead = e.MAC
			}
			return nil
		}
		bad = &e
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return rep, err
	}
	if bad != nil {
		rep.Problem = diagnose(mac, *bad, after, prev, prevID, next, headSeq, headMAC)
		return rep, nil
	}
	last := next - 1
	switch {
	case last < headSeq:
		what := fmt.Sprintf("events %d to %d were", last+1, headSeq)
		if last+1 == headSeq {
			what = fmt.Sprintf("event %d was", headSeq)
		}
		rep.Problem = &Problem{Kind: Removed, Seq: last + 1, Message: fmt.Sprintf(
			"%s removed from the end of the chain: the chain's head records %d events, and the last one left is %s.",
			capitalize(what), headSeq, describe(last, prevID))}
	case headSeq > 0 && !hmac.Equal(atHead, headMAC):
		rep.Problem = &Problem{Kind: Edited, Seq: headSeq, Message: fmt.Sprintf(
			"The chain's head does not match event %d: the event or the head was edited.", headSeq)}
	}
	return rep, nil
}

// diagnose tells what happened to bad, the first event that does not extend the chain
// from prev (the MAC of event next-1, prevID).
func diagnose(mac store.AuditMAC, bad store.AuditEvent, after []store.AuditEvent, prev []byte, prevID string, next, headSeq int64, headMAC []byte) *Problem {
	here := fmt.Sprintf("event %d (id %s)", bad.Seq, bad.ID)
	switch {
	case bad.Seq <= 0 || len(bad.MAC) == 0:
		return &Problem{Kind: Inserted, Seq: bad.Seq, ID: bad.ID, Message: fmt.Sprintf(
			"Event id %s was inserted: it has no place in the chain (seq %d, %d-byte MAC).", bad.ID, bad.Seq, len(bad.MAC))}
	case bad.Seq > next:
		what := fmt.Sprintf("events %d to %d were", next, bad.Seq-1)
		if next == bad.Seq-1 {
			what = fmt.Sprintf("event %d was", next)
		}
		return &Problem{Kind: Removed, Seq: next, ID: bad.ID, Message: fmt.Sprintf(
			"%s removed: the chain goes from %s to %s.", capitalize(what), describe(next-1, prevID), here)}
	}
	// Is the event written as seq next elsewhere? Then bad is out of place or added.
	as := func(e store.AuditEvent, seq int64, prev []byte) bool {
		e.Seq = seq
		return len(e.MAC) > 0 && hmac.Equal(mac(prev, e), e.MAC)
	}
	for i, y := range after {
		if !as(y, next, prev) {
			continue
		}
		if as(bad, next+1, y.MAC) {
			return &Problem{Kind: Reordered, Seq: bad.Seq, ID: bad.ID, Message: fmt.Sprintf(
				"Events %d and %d were swapped: id %s was written as %d and id %s as %d.",
				bad.Seq, y.Seq, y.ID, next, bad.ID, next+1)}
		}
		if i == 0 && y.Seq == next+1 {
			return &Problem{Kind: Inserted, Seq: bad.Seq, ID: bad.ID, Message: fmt.Sprintf(
				"%s was inserted: the chain goes from %s on to id %s, written as %d and now numbered %d.",
				capitalize(here), describe(next-1, prevID), y.ID, next, y.Seq)}
		}
		return &Problem{Kind: Reordered, Seq: bad.Seq, ID: bad.ID, Message: fmt.Sprintf(
			"Events were reordered: %s is out of place, and id %s, now %d, was written as %d.",
			here, y.ID, y.Seq, next)}
	}
	if bad.Seq > headSeq && headSeq > 0 {
		return &Problem{Kind: Inserted, Seq: bad.Seq, ID: bad.ID, Message: fmt.Sprintf(
			"%s was inserted after the chain's head, which records %d events.", capitalize(here), headSeq)}
	}
	return &Problem{Kind: Edited, Seq: bad.Seq, ID: bad.ID, Message: fmt.Sprintf(
		"%s was edited: its contents no longer match its MAC%s.", capitalize(here), editedHow(mac, bad, after, headSeq, headMAC))}
}

// editedHow adds how sure Verify is that bad was edited rather than forged whole.
func editedHow(mac store.AuditMAC, bad store.AuditEvent, after []store.AuditEvent, headSeq int64, headMAC []byte) string {
	if len(after) > 0 && after[0].Seq == bad.Seq+1 && hmac.Equal(mac(bad.MAC, after[0]), after[0].MAC) {
		return ", while the next event still follows its MAC"
	}
	if len(after) == 0 && bad.Seq == headSeq && hmac.Equal(bad.MAC, headMAC) {
		return ", which the chain's head still records"
	}
	return " (or it was forged, or the key is not the one the chain was written with)"
}

func describe(seq int64, id string) string {
	if seq <= 0 {
		return "the start"
	}
	return fmt.Sprintf("event %d (id %s)", seq, id)
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
