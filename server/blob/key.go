package blob

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxSeq is the highest segment sequence number a key can carry.
const MaxSeq = 9_999_999

// Key names one object: an init segment or a media segment of one track of one
// recording of one tenant. The zero Key is invalid and every store rejects it; the only
// way to get a valid one is SegmentKey, InitKey or ParseKey, which check every part.
type Key struct {
	tenant, recording, track string
	seq                      int // 0 for the init segment
}

// Prefix selects the keys of one tenant or of one recording, for listing. The zero
// Prefix is invalid, so that no call can list across tenants by accident.
type Prefix struct {
	tenant, recording string
}

// SegmentKey names media segment seq (1..MaxSeq) of a track:
// "tenants/{tenant}/recordings/{recording}/{track}/{seq:06}.m4s".
func SegmentKey(tenantID, recordingID, trackID string, seq int) (Key, error) {
	k, err := InitKey(tenantID, recordingID, trackID)
	if err != nil {
		return Key{}, err
	}
	if seq < 1 || seq > MaxSeq {
		return Key{}, fmt.Errorf("%w: seq %d not in 1..%d", ErrBadKey, seq, MaxSeq)
	}
	k.seq = seq
	return k, nil
}

// InitKey names the init segment of a track:
// "tenants/{tenant}/recordings/{recording}/{track}/init.mp4".
func InitKey(tenantID, recordingID, trackID string) (Key, error) {
	if err := checkUUID("tenant", tenantID); err != nil {
		return Key{}, err
	}
	if err := checkUUID("recording", recordingID); err != nil {
		return Key{}, err
	}
	if err := checkTrack(trackID); err != nil {
		return Key{}, err
	}
	return Key{tenant: tenantID, recording: recordingID, track: trackID}, nil
}

// ParseKey reads a key in the form String gives, as stored in the database. Only that
// exact form is accepted, so a parsed key always prints back to s.
func ParseKey(s string) (Key, error) {
	const maxLen = 160 // well above the longest valid key (137 bytes)
	if len(s) > maxLen {
		return Key{}, fmt.Errorf("%w: longer than %d bytes", ErrBadKey, maxLen)
	}
	parts := strings.Split(s, "/")
	if len(parts) != 6 || parts[0] != "tenants" || parts[2] != "recordings" {
		return Key{}, fmt.Errorf("%w: %q is not tenants/{tenant}/recordings/{recording}/{track}/{file}", ErrBadKey, s)
	}
	k, err := InitKey(parts[1], parts[3], parts[4])
	if err != nil {
		return Key{}, err
	}
	name := parts[5]
	if name == "init.mp4" {
		return k, nil
	}
	digits, ok := strings.CutSuffix(name, ".m4s")
	if !ok || len(digits) < 6 || len(digits) > 7 || !allDigits(digits) {
		return Key{}, fmt.Errorf("%w: file %q is neither init.mp4 nor {seq:06}.m4s", ErrBadKey, name)
	}
	seq, _ := strconv.Atoi(digits) // at most 7 digits: cannot fail
	k, err = SegmentKey(k.tenant, k.recording, k.track, seq)
	if err != nil {
		return Key{}, err
	}
	if k.String() != s { // a leading zero on a 7-digit seq
		return Key{}, fmt.Errorf("%w: file %q is not in canonical form", ErrBadKey, name)
	}
	return k, nil
}

// String gives the object name, with "/" separators; "" for the zero Key.
func (k Key) String() string {
	if !k.valid() {
		return ""
	}
	base := "tenants/" + k.tenant + "/recordings/" + k.recording + "/" + k.track + "/"
	if k.seq == 0 {
		return base + "init.mp4"
	}
	return base + fmt.Sprintf("%06d.m4s", k.seq)
}

// Tenant gives the tenant ID the key belongs to.
func (k Key) Tenant() string { return k.tenant }

// Recording gives the recording ID the key belongs to.
func (k Key) Recording() string { return k.recording }

// Track gives the track ID the key belongs to.
func (k Key) Track() string { return k.track }

// Seq gives the segment sequence number, 0 for an init segment.
func (k Key) Seq() int { return k.seq }

func (k Key) valid() bool { return k.tenant != "" }

// check lets stores reject the zero Key, the one invalid Key that can exist.
func (k Key) check() error {
	if !k.valid() {
		return fmt.Errorf("%w: zero Key", ErrBadKey)
	}
	return nil
}

// RecordingPrefix selects every key of one recording.
func RecordingPrefix(tenantID, recordingID string) (Prefix, error) {
	if err := checkUUID("tenant", tenantID); err != nil {
		return Prefix{}, err
	}
	if err := checkUUID("recording", recordingID); err != nil {
		return Prefix{}, err
	}
	return Prefix{tenant: tenantID, recording: recordingID}, nil
}

// TenantPrefix selects every key of one tenant.
func TenantPrefix(tenantID string) (Prefix, error) {
	if err := checkUUID("tenant", tenantID); err != nil {
		return Prefix{}, err
	}
	return Prefix{tenant: tenantID}, nil
}

// String gives the prefix of the object names it selects, ending in "/"; "" for the zero
// Prefix.
func (p Prefix) String() string {
	switch {
	case p.tenant == "":
		return ""
	case p.recording == "":
		return "tenants/" + p.tenant + "/"
	default:
		return "tenants/" + p.tenant + "/recordings/" + p.recording + "/"
	}
}

// Contains reports whether k is one of the keys p selects.
func (p Prefix) Contains(k Key) bool {
	return p.tenant != "" && k.tenant == p.tenant && (p.recording == "" || k.recording == p.recording)
}

func (p Prefix) check() error {
	if p.tenant == "" {
		return fmt.Errorf("%w: zero Prefix", ErrBadKey)
	}
	return nil
}

// checkUUID accepts only the lowercase 8-4-4-4-12 hex form, the one form a UUID has in a
// key, so that two spellings never name two objects.
func checkUUID(part, s string) error {
	if len(s) != 36 {
		return fmt.Errorf("%w: %s ID %q is not a lowercase UUID", ErrBadKey, part, clip(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fmt.Errorf("%w: %s ID %q is not a lowercase UUID", ErrBadKey, part, s)
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return fmt.Errorf("%w: %s ID %q is not a lowercase UUID", ErrBadKey, part, s)
			}
		}
	}
	return nil
}

// checkTrack accepts ^[a-z][a-z0-9_-]{0,31}$.
func checkTrack(s string) error {
	if s == "" || len(s) > 32 {
		return fmt.Errorf("%w: track ID %q must be 1 to 32 characters", ErrBadKey, clip(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '_' || c == '-')
		if !ok {
			return fmt.Errorf("%w: track ID %q must match [a-z][a-z0-9_-]*", ErrBadKey, s)
		}
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip keeps error messages short when a client sends a long value.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
