package firewall

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// testCountries is what the test database places: two IPv4 documentation ranges and
// one IPv6 documentation range.
var testCountries = map[string]string{
	"203.0.113.0/24":   "DE",
	"198.51.100.0/24":  "RU",
	"2001:db8:de::/48": "DE",
}

// writeTestGeoIP builds a small database in the GeoLite2-Country layout in a temporary
// directory and returns its path.
func writeTestGeoIP(t testing.TB) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, iso := range testCountries {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(iso)}}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func openTestGeoIP(t testing.TB) *GeoIP {
	t.Helper()
	g, err := OpenGeoIP(writeTestGeoIP(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func TestGeoIPCountry(t *testing.T) {
	g := openTestGeoIP(t)
	for addr, want := range map[string]string{
		"203.0.113.9": "DE", "198.51.100.1": "RU", "::ffff:203.0.113.9": "DE", "2001:db8:de::1": "DE",
		"192.0.2.1": "", "2001:db8:1::1": "",
	} {
		iso, ok := g.Country(mustAddr(t, addr))
		if iso != want || ok != (want != "") {
			t.Errorf("Country(%s) = %q, %v; want %q", addr, iso, ok, want)
		}
	}
	var none *GeoIP
	if iso, ok := none.Country(mustAddr(t, "203.0.113.9")); ok || iso != "" {
		t.Errorf("nil database placed an address in %q", iso)
	}
}

func TestOpenGeoIPRefusesOtherFiles(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "x.mmdb")
	if err := os.WriteFile(bad, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenGeoIP(bad); err == nil {
		t.Error("a file that is no database opened")
	}
	if _, err := OpenGeoIP(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("a missing file opened")
	}
}
