package firewall

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aulacapture/aula/server/firewall/firewalltest"
)

func openTestGeoIP(t testing.TB) *GeoIP {
	t.Helper()
	g, err := OpenGeoIP(firewalltest.WriteGeoIP(t, nil))
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
