package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings: RFC 6238 with the parameters every authenticator app supports.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew is how many 30-second steps either side of now are accepted, for clocks
	// that drift and codes typed slowly.
	totpSkew = 1
)

// Errors of the second factor.
var (
	ErrBadCode    = errors.New("code not valid")
	ErrCodeReused = errors.New("code already used")
)

// TOTPEnrolment is a new TOTP secret with what an authenticator app needs to learn it.
type TOTPEnrolment struct {
	Secret string // base32, as apps show it for typing in by hand
	URL    string // otpauth:// URI
	QR     string // the URI as a QR code, a PNG data: URL for an <img>
}

// NewTOTP makes a 160-bit TOTP secret for account at issuer, with its QR code.
func NewTOTP(issuer, account string) (TOTPEnrolment, error) {
	return newTOTP(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod,
		SecretSize: 20, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

func newTOTP(opts totp.GenerateOpts) (TOTPEnrolment, error) {
	key, err := totp.Generate(opts)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("make totp secret: %w", err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("make qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("encode qr code: %w", err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL(),
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// TOTPCode is the RFC 6238 code of secret (base32) at t.
func TOTPCode(secret string, t time.Time, digits int, alg otp.Algorithm) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.Digits(digits), Algorithm: alg})
}

// ParseTOTPCode accepts six digits, with spaces people type between groups.
func ParseTOTPCode(s string) (string, error) {
	if len(s) > 32 {
		return "", ErrBadCode
	}
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '-' {
			return -1
		}
		return r
	}, s)
	if len(s) != int(totpDigits) {
		return "", ErrBadCode
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return "", ErrBadCode
		}
	}
	return s, nil
}

// VerifyTOTP checks code against secret at now, accepting the steps now-1, now and now+1
// that are later than lastStep, and returns the step it matched. A code of lastStep or
// before answers ErrCodeReused: each code is accepted once (the caller stores the step).
func VerifyTOTP(secret, code string, now time.Time, lastStep int64) (int64, error) {
	code, err := ParseTOTPCode(code)
	if err != nil {
		return 0, err
	}
	step := now.Unix() / totpPeriod
	reused := false
	for s := step - totpSkew; s <= step+totpSkew; s++ {
		want, err := TOTPCode(secret, time.Unix(s*totpPeriod, 0), int(totpDigits), otp.AlgorithmSHA1)
		if err != nil {
			return 0, fmt.Errorf("totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			if s <= lastStep {
				reused = true
				continue
			}
			return s, nil
		}
	}
	if reused {
		return 0, ErrCodeReused
	}
	return 0, ErrBadCode
}

// Recovery codes: RecoveryCodeCount codes of 16 base32 characters (80 bits) each,
// shown once as XXXX-XXXX-XXXX-XXXX and stored as SHA-256 hashes. Their entropy makes a
// slow hash unnecessary.
const (
	RecoveryCodeCount = 10
	recoveryCodeLen   = 16
)

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes makes RecoveryCodeCount recovery codes and their hashes.
func NewRecoveryCodes() (codes []string, hashes [][]byte, err error) {
	for range RecoveryCodeCount {
		b := make([]byte, recoveryCodeLen*5/8)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("make recovery code: %w", err)
		}
		s := recoveryEncoding.EncodeToString(b)
		codes = append(codes, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		hashes = append(hashes, HashRecoveryCode(s))
	}
	return codes, hashes, nil
}

// ParseRecoveryCode returns the canonical form of a typed recovery code: upper case,
// without dashes or spaces; a code of the wrong length or alphabet is ErrBadCode.
func ParseRecoveryCode(s string) (string, error) {
	if len(s) > 64 {
		return "", ErrBadCode
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
	if len(s) != recoveryCodeLen {
		return "", ErrBadCode
	}
	if _, err := recoveryEncoding.DecodeString(s); err != nil {
		return "", ErrBadCode
	}
	return s, nil
}

// HashRecoveryCode is the stored form of a canonical recovery code.
func HashRecoveryCode(canonical string) []byte {
	sum := sha256.Sum256([]byte("aula-recovery:" + canonical))
	return sum[:]
}

// totpSecretEncoding is how apps and otpauth URIs spell secrets: base32 without padding.
var totpSecretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ValidTOTPSecret reports whether s is a secret NewTOTP could have made: 160 bits in
// unpadded base32.
func ValidTOTPSecret(s string) bool {
	b, err := totpSecretEncoding.DecodeString(s)
	return err == nil && len(b) == 20 && len(s) == 32
}

// TOTPFromSecret is the enrolment of an existing secret, to show its QR code again.
func TOTPFromSecret(issuer, account, secret string) (TOTPEnrolment, error) {
	b, err := totpSecretEncoding.DecodeString(secret)
	if err != nil || len(b) != 20 {
		return TOTPEnrolment{}, ErrBadCode
	}
	if issuer == "" {
		issuer = "Aula"
	}
	return newTOTP(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod,
		Secret: b, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}
