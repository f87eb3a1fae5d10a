package alert_test

import (
	"fmt"
	"time"

	"github.com/aulacapture/aula/server/alert"
)

// A webhook receiver checks the Aula-Signature header of each alert it is sent, and
// refuses one signed more than five minutes ago.
func ExampleVerifySignature() {
	secret := []byte("the webhook secret, at least 16 characters")
	body := []byte(`{"kind":"signin_burst","tenant":"…"}`)
	sent := time.Now()
	header := alert.Sign(secret, sent, body) // what the server puts in Aula-Signature

	fmt.Println(alert.VerifySignature(secret, header, body, time.Now(), 5*time.Minute))
	fmt.Println(alert.VerifySignature(secret, header, body, sent.Add(time.Hour), 5*time.Minute) != nil)
	// Output:
	// <nil>
	// true
}
