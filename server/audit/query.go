package audit

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// ErrBadQuery means a search's parameters cannot be read; the message says which.
var ErrBadQuery = errors.New("bad audit search")

// MaxLimit caps the events one search answers.
const MaxLimit = 1000

// ParseQuery reads a search from URL parameters, shared by the admin page and API:
// action (a prefix, "signin" or "signin."), actor, user, result, since and until (RFC
// 3339), before (a seq, for the next page) and limit (1 to MaxLimit, default 100).
func ParseQuery(q url.Values) (store.AuditFilter, error) {
	f := store.AuditFilter{
		ActionPrefix: strings.TrimSpace(q.Get("action")),
		Actor:        strings.TrimSpace(q.Get("actor")),
		UserID:       strings.TrimSpace(q.Get("user")),
		Result:       strings.TrimSpace(q.Get("result")),
		Limit:        100,
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := strings.TrimSpace(q.Get(p.name))
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			// A browser's datetime-local field sends "2026-11-02T08:00", meant as UTC here.
			if t, err = time.Parse("2006-01-02T15:04", v); err != nil {
				return f, fmt.Errorf("%w: %s %q is not a time such as 2026-11-01T00:00:00Z", ErrBadQuery, p.name, v)
			}
		}
		if t.Year() < 1700 || t.Year() > 2200 {
			return f, fmt.Errorf("%w: %s %q is out of range", ErrBadQuery, p.name, v)
		}
		*p.to = t.UTC()
	}
	for _, p := range []struct {
		name     string
		to       *int64
		min, max int64
	}{{"before", &f.BeforeSeq, 1, 1 << 62}, {"limit", nil, 1, MaxLimit}} {
		v := strings.TrimSpace(q.Get(p.name))
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < p.min || n > p.max {
			return f, fmt.Errorf("%w: %s must be a number from %d to %d", ErrBadQuery, p.name, p.min, p.max)
		}
		if p.to != nil {
			*p.to = n
		} else {
			f.Limit = int(n)
		}
	}
	for _, s := range []string{f.ActionPrefix, f.Actor, f.UserID, f.Result} {
		if len(s) > 200 {
			return f, fmt.Errorf("%w: a filter longer than 200 bytes", ErrBadQuery)
		}
	}
	return f, nil
}
