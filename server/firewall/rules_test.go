package firewall

import (
	"errors"
	"slices"
	"testing"
)

func TestParseRangeLines(t *testing.T) {
	got, err := ParseRangeLines("# campus\n192.0.2.0/24\n\n 10.1.2.3/8 \n2001:db8::/32\n198.51.100.7\n::ffff:203.0.113.0/120\n192.0.2.0/24\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "192.0.2.0/24\n10.0.0.0/8\n2001:db8::/32\n198.51.100.7/32\n203.0.113.0/24"
	if FormatRanges(got) != want {
		t.Errorf("got\n%s\nwant\n%s", FormatRanges(got), want)
	}
	for text, msg := range map[string]string{
		"192.0.2.0/24\n10.0.0.1/8\n10.0.0.300/8": "line 3: 10.0.0.300/8 is not a CIDR range",
		"192.0.2.0/33":                           "line 1: 192.0.2.0/33 is not a CIDR range",
		"fe80::1%eth0":                           "line 1: fe80::1%eth0 is not a CIDR range",
		"\nexample.org":                          "line 2: example.org is not a CIDR range",
		"::ffff:0:0/80":                          "line 1: ::ffff:0:0/80 mixes IPv4 and IPv6; give the IPv4 range",
	} {
		_, err := ParseRangeLines(text)
		if !errors.Is(err, ErrInvalid) || err.Error() != msg {
			t.Errorf("%q: %v, want %q", text, err, msg)
		}
	}
	if _, err := ParseRangeList("ranges", []string{"192.0.2.0/24", "nope"}); err == nil || err.Error() != "ranges item 2: nope is not a CIDR range" {
		t.Errorf("list: %v", err)
	}
}

func TestParseCountries(t *testing.T) {
	got, err := ParseCountries("de, FR fr\tit")
	if err != nil || !slices.Equal(got, []string{"DE", "FR", "IT"}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"DEU", "D1", "é"} {
		if _, err := ParseCountries(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	mode, list, err := ParseCountryRule("allow:DE,FR")
	if err != nil || mode != CountryAllow || !slices.Equal(list, []string{"DE", "FR"}) {
		t.Errorf("allow:DE,FR = %q %v %v", mode, list, err)
	}
	if mode, list, err := ParseCountryRule("none"); err != nil || mode != "" || list != nil {
		t.Errorf("none = %q %v %v", mode, list, err)
	}
	for _, bad := range []string{"allow:", "maybe:DE", "DE", "deny:RUS"} {
		if _, _, err := ParseCountryRule(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseExceptionLines(t *testing.T) {
	got, err := ParseExceptionLines("bob@example.org anywhere\n# note\nalice@example.org 198.51.100.7, 2001:db8:a::/48\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "bob@example.org anywhere\nalice@example.org 198.51.100.7/32 2001:db8:a::/48"; FormatExceptions(got) != want {
		t.Errorf("got\n%s\nwant\n%s", FormatExceptions(got), want)
	}
	for text, msg := range map[string]string{
		"bob@example.org":                          "line 1: after bob@example.org give anywhere, or the ranges this user may also use",
		"bob@example.org anywhere\nbob 10.0.0.0/8": "line 2: bob is not an e-mail address",
		"a@x 10.0.0.0/8\nA@x anywhere":             "line 2: A@x has an exception already",
		"a@x 10.0.0.0/8 10.0.0.300/8":              "line 1: 10.0.0.300/8 is not a CIDR range",
	} {
		_, err := ParseExceptionLines(text)
		if !errors.Is(err, ErrInvalid) || err.Error() != msg {
			t.Errorf("%q: %v, want %q", text, err, msg)
		}
	}
}

func FuzzParseRangeLines(f *testing.F) {
	f.Add("192.0.2.0/24\n2001:db8::/32\n::ffff:1.2.3.4")
	f.Fuzz(func(t *testing.T, text string) {
		ps, err := ParseRangeLines(text)
		if err != nil {
			return
		}
		again, err := ParseRangeLines(FormatRanges(ps))
		if err != nil || !slices.Equal(ps, again) {
			t.Errorf("round trip of %v: %v, %v", ps, again, err)
		}
	})
}
