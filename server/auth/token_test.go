package auth

import (
	"strings"
	"testing"
)

func TestParseToken(t *testing.T) {
	tok, _, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{tok, true},
		{"", false},
		{"aula_", false},
		{tok[:len(tok)-1], false},
		{tok + "A", false},
		{"AULA_" + tok[5:], false},
		{"aula_" + strings.Repeat("A", 42) + "B", false}, // non-canonical last character
		{"aula_" + strings.Repeat("+", 43), false},
		{" " + tok, false},
	} {
		if got, ok := ParseToken(tc.in); ok != tc.ok || (ok && got != tc.in) {
			t.Errorf("ParseToken(%q) = %q, %v; want ok %v", tc.in, got, ok, tc.ok)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	tok, _, _ := NewToken()
	f.Add(tok)
	f.Add("aula_")
	f.Add("aula_" + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseToken(s)
		if !ok {
			return
		}
		if got != s || len(s) != 48 || !strings.HasPrefix(s, "aula_") {
			t.Fatalf("ParseToken(%q) accepted %q", s, got)
		}
	})
}
