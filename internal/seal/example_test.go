package seal_test

import (
	"bytes"
	"fmt"
	"log"

	"filippo.io/age"

	"github.com/aulacapture/aula/internal/seal"
)

func Example() {
	// The server keeps the identity; the agent gets only the recipient string.
	tenant, err := age.GenerateX25519Identity()
	if err != nil {
		log.Fatal(err)
	}
	recipient, err := seal.ParseRecipient(tenant.Recipient().String())
	if err != nil {
		log.Fatal(err)
	}

	var sealed bytes.Buffer
	if err := seal.Seal(&sealed, []byte("moof…mdat…"), recipient); err != nil {
		log.Fatal(err)
	}

	plain, err := seal.Open(sealed.Bytes(), 64<<20, tenant)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plain)
	// Output: moof…mdat…
}
