package firewall

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/geoip2-golang/v2"
)

// Locator places an address in a country; *GeoIP is one.
type Locator interface {
	// Country is the ISO 3166-1 alpha-2 code of addr's country; ok is false when the
	// database does not place it.
	Country(addr netip.Addr) (iso string, ok bool)
}

var _ Locator = (*GeoIP)(nil)

// GeoIP is a GeoLite2-Country (or GeoIP2-Country or -City) database, memory-mapped. It
// is safe for concurrent use; Close it when done.
type GeoIP struct {
	r *geoip2.Reader
}

// OpenGeoIP opens the .mmdb file at path and checks that it answers country lookups.
func OpenGeoIP(path string) (*GeoIP, error) {
	r, err := geoip2.Open(path)
	if err != nil {
		if r != nil {
			r.Close()
		}
		return nil, fmt.Errorf("open GeoIP database %s: %w", path, err)
	}
	if _, err := r.Country(netip.IPv4Unspecified()); err != nil {
		r.Close()
		return nil, fmt.Errorf("GeoIP database %s: %w", path, err)
	}
	return &GeoIP{r: r}, nil
}

// Country is the ISO code of the country the database places addr in (where the
// address is, else where its network is registered); ok is false when it places addr
// nowhere. A nil *GeoIP places nothing.
func (g *GeoIP) Country(addr netip.Addr) (iso string, ok bool) {
	if g == nil || !addr.IsValid() {
		return "", false
	}
	c, err := g.r.Country(addr.Unmap().WithZone(""))
	if err != nil {
		return "", false
	}
	if iso = c.Country.ISOCode; iso == "" {
		iso = c.RegisteredCountry.ISOCode
	}
	return iso, iso != ""
}

// Close unmaps the database.
func (g *GeoIP) Close() error {
	if g == nil {
		return nil
	}
	return g.r.Close()
}
