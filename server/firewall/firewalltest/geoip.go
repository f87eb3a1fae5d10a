// Package firewalltest builds small GeoIP databases for tests of the firewall's
// country rules. It is for tests only.
package firewalltest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Countries is what WriteGeoIP places when given nil: two IPv4 documentation ranges
// and one IPv6 documentation range.
var Countries = map[string]string{
	"203.0.113.0/24":   "DE",
	"198.51.100.0/24":  "RU",
	"2001:db8:de::/48": "DE",
}

// WriteGeoIP writes a database in the GeoLite2-Country layout (a record with
// "country" → "iso_code" per range) to a temporary directory of t and returns its
// path. countries maps CIDR ranges to ISO codes; nil means Countries.
func WriteGeoIP(t testing.TB, countries map[string]string) string {
	t.Helper()
	if countries == nil {
		countries = Countries
	}
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, iso := range countries {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(iso)}}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
