package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Throttling limits (SECURITY §4).
const (
	// MaxFailuresPerHour is how many failed sign-ins an account may have in an hour; the
	// next attempt is refused until the oldest of them is an hour old.
	MaxFailuresPerHour = 100
	// maxIPFailuresPerHour is the same for one client address, across accounts.
	maxIPFailuresPerHour = 1000
	// freeFailures is how many failures pass without delay (typos happen).
	freeFailures = 3
	// maxDelay caps the growing delay, so the hourly limit, not the delay, is what an
	// attacker meets, and a user who typed wrong a few times waits seconds, not hours.
	maxDelay = 30 * time.Second
	// ipExtraFree more failures pass without delay from one address than from one
	// account, since many people may share an address (a campus NAT).
	ipExtraFree = 17
	// maxTrackedIPs bounds the memory the per-address counts take.
	maxTrackedIPs = 100_000
)

// ErrThrottled is wrapped by ThrottledError.
var ErrThrottled = errors.New("too many failed sign-ins")

// ThrottledError refuses an attempt until Wait has passed.
type ThrottledError struct {
	Wait time.Duration
	// Limit is true when the hourly limit, not the growing delay, refused it.
	Limit bool
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins: try again in %s", e.Wait.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// Delay is how long to wait after n failures before the next attempt: nothing for the
// first few, then 1 s, doubling up to 30 s.
func Delay(n int) time.Duration {
	if n < freeFailures {
		return 0
	}
	shift := n - freeFailures
	if shift > 10 {
		return maxDelay
	}
	return min(time.Second<<shift, maxDelay)
}

// FailureStore keeps the failed sign-ins of accounts; *store.Store is one.
type FailureStore interface {
	AddSigninFailure(ctx context.Context, tenantID, userID string, at time.Time) error
	SigninFailures(ctx context.Context, tenantID, userID string, since time.Time) ([]time.Time, error)
	ClearSigninFailures(ctx context.Context, tenantID, userID string) error
}

// Throttle slows and then stops password guessing, per account (in the store, so every
// server instance sees the same count) and per client address (in this process's
// memory). It is safe for concurrent use.
type Throttle struct {
	Failures FailureStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu  sync.Mutex
	ips map[string][]time.Time
}

func (t *Throttle) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// check decides from the failures of the last hour, oldest first.
// extraFree failures pass before the delay starts counting.
func check(failures []time.Time, limit, extraFree int, now time.Time) error {
	n := len(failures)
	if n == 0 {
		return nil
	}
	if n >= limit {
		return &ThrottledError{Wait: failures[n-limit].Add(time.Hour).Sub(now), Limit: true}
	}
	if wait := failures[n-1].Add(Delay(n - extraFree)).Sub(now); wait > 0 {
		return &ThrottledError{Wait: wait}
	}
	return nil
}

// CheckAccount returns a *ThrottledError when the account must not try now.
func (t *Throttle) CheckAccount(ctx context.Context, tenantID, userID string) error {
	now := t.now()
	failures, err := t.Failures.SigninFailures(ctx, tenantID, userID, now.Add(-time.Hour))
	if err != nil {
		return err
	}
	return check(failures, MaxFailuresPerHour, 0, now)
}

// FailAccount records a failure of the account and returns how many it had in the last
// hour, this one included.
func (t *Throttle) FailAccount(ctx context.Context, tenantID, userID string) (int, error) {
	now := t.now()
	if err := t.Failures.AddSigninFailure(ctx, tenantID, userID, now); err != nil {
		return 0, err
	}
	failures, err := t.Failures.SigninFailures(ctx, tenantID, userID, now.Add(-time.Hour))
	return len(failures), err
}

// SucceedAccount forgets the account's failures after a successful sign-in.
func (t *Throttle) SucceedAccount(ctx context.Context, tenantID, userID string) error {
	return t.Failures.ClearSigninFailures(ctx, tenantID, userID)
}

// CheckIP returns a *ThrottledError when the address must not try now.
func (t *Throttle) CheckIP(ip string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	return check(t.recent(ip, now), maxIPFailuresPerHour, ipExtraFree, now)
}

// FailIP records a failure from the address.
func (t *Throttle) FailIP(ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ips == nil {
		t.ips = make(map[string][]time.Time)
	}
	now := t.now()
	if len(t.ips) >= maxTrackedIPs {
		for k, v := range t.ips { // drop addresses with nothing recent, else any one
			if len(v) == 0 || now.Sub(v[len(v)-1]) > time.Hour || len(t.ips) >= maxTrackedIPs {
				delete(t.ips, k)
			}
			if len(t.ips) < maxTrackedIPs*9/10 {
				break
			}
		}
	}
	t.ips[ip] = append(t.recent(ip, now), now)
}

// recent returns the address's failures of the last hour, oldest first; t.mu is held.
func (t *Throttle) recent(ip string, now time.Time) []time.Time {
	v := t.ips[ip]
	i := 0
	for i < len(v) && now.Sub(v[i]) >= time.Hour {
		i++
	}
	v = v[i:]
	if len(v) == 0 {
		delete(t.ips, ip)
		return nil
	}
	t.ips[ip] = v
	return v
}
