package audit

import (
	"net/url"
	"testing"
)

// FuzzParseQuery: any query string is read or refused, never panics, and a search it
// accepts stays within the limits.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "action=signin.&since=2026-11-01T00:00:00Z&limit=5", "before=-1", "until=2026-11-02T08:00", "limit=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := ParseQuery(q)
		if err != nil {
			return
		}
		if fl.Limit < 1 || fl.Limit > MaxLimit || fl.BeforeSeq < 0 {
			t.Fatalf("%q gave %+v", raw, fl)
		}
	})
}

// FuzzRequestID: an accepted request ID is safe to echo in a header and a log.
func FuzzRequestID(f *testing.F) {
	f.Add("abc-DEF_1.2")
	f.Add("a\r\nSet-Cookie: x")
	f.Fuzz(func(t *testing.T, id string) {
		if !ValidRequestID(id) {
			return
		}
		if len(id) > 64 {
			t.Fatalf("%q accepted", id)
		}
		for _, c := range []byte(id) {
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("%q accepted", id)
			}
		}
	})
}
