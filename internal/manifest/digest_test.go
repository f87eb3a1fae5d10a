package manifest

import (
	"strings"
	"testing"
)

func TestDigest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		// FIPS 180-2 / RFC 6234 test vectors.
		{"empty", "", "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"},
		{"abc", "abc", "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:"},
		{"448 bits", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "sha-256=:JI1qYdIGOLjlwCaTDD5gOaM85Flk/yFn9uzt1BnbBsE=:"},
		{"million a", strings.Repeat("a", 1_000_000), "sha-256=:zcduXJkU+5KBocfihNc+Z/GAmkiklyAOBG05zMcRLNA=:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Digest([]byte(tt.in))
			if got != tt.want {
				t.Errorf("Digest = %s, want %s", got, tt.want)
			}
			// Validate must accept every digest that Digest makes.
			if !digestRE.MatchString(got) {
				t.Errorf("Digest = %s, which Validate rejects", got)
			}
		})
	}
}
