package alert

import (
	"testing"
	"time"
)

// FuzzVerifySignature: any header is refused or verified, never panics, and only the
// right MAC verifies.
func FuzzVerifySignature(f *testing.F) {
	now := time.Unix(1790000000, 0)
	f.Add(Sign([]byte("k"), now, []byte("body")), []byte("body"))
	f.Add("t=1790000000,v1=zz,v1=", []byte(""))
	f.Add("t=-99999999999999999999", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		if VerifySignature([]byte("k"), header, body, now, time.Hour) == nil {
			if VerifySignature([]byte("other"), header, body, now, time.Hour) == nil {
				t.Fatalf("%q verifies with two keys", header)
			}
		}
	})
}
