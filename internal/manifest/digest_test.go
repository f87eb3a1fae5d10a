package manifest

import (
	"bytes"
	"crypto/sha256"
	"errors"
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

func TestParseContentDigest(t *testing.T) {
	sum := sha256.Sum256([]byte("abc"))
	good := Digest([]byte("abc"))
	cases := []struct {
		header string
		ok     bool
	}{
		{good, true},
		{"sha-512=:AAAA:, " + good, true},
		{good + ";p=1", true},
		{"", false},
		{"sha-256", false},
		{"sha-256=abc", false},
		{"sha-256=:AAAA:", false},
		{"sha-512=:" + strings.Repeat("A", 88) + ":", false},
		{"sha-256=:!!!:", false},
		{strings.Repeat("x", 2000), false},
	}
	for _, c := range cases {
		got, err := ParseContentDigest(c.header)
		if (err == nil) != c.ok {
			t.Errorf("ParseContentDigest(%.40q) error %v, want ok=%v", c.header, err, c.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrDigest) {
			t.Errorf("error %v does not wrap ErrDigest", err)
		}
		if c.ok && !bytes.Equal(got, sum[:]) {
			t.Errorf("ParseContentDigest(%q) = %x", c.header, got)
		}
	}
}

func FuzzParseContentDigest(f *testing.F) {
	f.Add(Digest([]byte("abc")))
	f.Add("sha-512=:AAAA:, sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:")
	f.Add("sha-256=:=:")
	f.Fuzz(func(t *testing.T, h string) {
		sum, err := ParseContentDigest(h)
		if err == nil && len(sum) != 32 {
			t.Fatalf("accepted %q with a %d-byte digest", h, len(sum))
		}
	})
}
