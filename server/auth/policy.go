package auth

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Password length limits in Unicode code points of the NFKC form (SECURITY §1).
const (
	MinPasswordLength        = 15
	MinPasswordLengthWith2FA = 12
	// MaxPasswordLength is far above anything typed, and below what makes hashing a
	// denial of service; longer passwords are refused, never truncated.
	MaxPasswordLength = 1024
)

// ErrWeakPassword is wrapped by every PolicyError.
var ErrWeakPassword = errors.New("password refused")

// PolicyError says why a new password was refused, in a sentence shown to the user.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return "password refused: " + e.Reason }

// Unwrap makes errors.Is(err, ErrWeakPassword) true.
func (e *PolicyError) Unwrap() error { return ErrWeakPassword }

// PasswordRules are what a tenant asks of new passwords. There are no composition rules
// (NIST SP 800-63B): length and the blocklist do the work.
type PasswordRules struct {
	// Require2FA is true when the tenant enforces a second factor, which lowers the
	// minimum length to MinPasswordLengthWith2FA.
	Require2FA bool
}

// MinLength is the shortest password the rules accept.
func (r PasswordRules) MinLength() int {
	if r.Require2FA {
		return MinPasswordLengthWith2FA
	}
	return MinPasswordLength
}

// CheckNewPassword says whether password may be chosen. context holds words that must
// not be the password, such as the account's e-mail address. Length is counted in code
// points of the NFKC form, so "🎓" is one character and "ﬁ" two.
func CheckNewPassword(password string, rules PasswordRules, context ...string) error {
	if !utf8.ValidString(password) {
		return &PolicyError{"The password is not valid text (UTF-8)."}
	}
	pw := NormalizePassword(password)
	n := utf8.RuneCountInString(pw)
	if n < rules.MinLength() {
		return &PolicyError{fmt.Sprintf("The password has %d characters; it needs at least %d.", n, rules.MinLength())}
	}
	if n > MaxPasswordLength {
		return &PolicyError{fmt.Sprintf("The password has %d characters; at most %d are accepted.", n, MaxPasswordLength)}
	}
	key := strings.ToLower(pw)
	if blocked(key) {
		return &PolicyError{"This password is on the list of common and breached passwords; choose another."}
	}
	if unit := repeatedUnit(key); unit != "" {
		return &PolicyError{"This password only repeats a short sequence; choose another."}
	}
	for _, c := range context {
		c = strings.ToLower(NormalizePassword(c))
		local, _, _ := strings.Cut(c, "@")
		for _, w := range []string{c, local} {
			if len(w) >= 4 && (key == w || repeatedOf(key, w)) {
				return &PolicyError{"The password may not be your e-mail address or your name; choose another."}
			}
		}
	}
	return nil
}

// blocklistText is the shipped blocklist: the "passwords" frequency list of
// @zxcvbn-ts/language-common 4.1.3 (npm; MIT licence, © 2012-2016 Dan Wheeler and
// Dropbox, Inc., © 2021 @zxcvbn-ts), itself drawn from leaked password corpora. It is
// kept NFKC-normalised, lower-cased and without entries under 8 characters (which the
// length rule refuses anyway); 17,950 entries, one a line.
//
//go:embed blocklist.txt
var blocklistText string

var blocklist = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 18000)
	for line := range strings.SplitSeq(blocklistText, "\n") {
		if line != "" {
			m[line] = struct{}{}
		}
	}
	return m
})

// blocked reports whether the lower-cased password, or the password with the digits
// and punctuation people add at the end removed, is on the blocklist.
func blocked(key string) bool {
	list := blocklist()
	if _, ok := list[key]; ok {
		return true
	}
	trimmed := strings.TrimRight(key, "0123456789!?.#*_-+@$% ")
	if _, ok := list[trimmed]; ok && utf8.RuneCountInString(trimmed) >= 8 {
		return true
	}
	return false
}

// repeatedUnit returns the unit that key repeats, when key is a short sequence of at
// most 8 code points repeated ("abcabcabc…", "passwordpassword"), else "".
func repeatedUnit(key string) string {
	r := []rune(key)
	for size := 1; size <= 8 && size < len(r); size++ {
		if len(r)%size != 0 {
			continue
		}
		if repeatedOf(key, string(r[:size])) {
			return string(r[:size])
		}
	}
	return ""
}

// repeatedOf reports whether key is unit written twice or more.
func repeatedOf(key, unit string) bool {
	return unit != "" && len(key) > len(unit) && len(key)%len(unit) == 0 && strings.Repeat(unit, len(key)/len(unit)) == key
}
