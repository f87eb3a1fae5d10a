// Package firewall is Aula's logical firewall (SECURITY §12): each tenant may allow
// sign-in, API calls and playback only from given address ranges, with per-user
// exceptions and optional country rules from a GeoLite2-format database. It also
// resolves each request's client address, believing X-Forwarded-For only from
// configured proxies.
//
// # Rules
//
// A tenant's rules apply only while enabled. A user excepted "anywhere" is always
// allowed. Otherwise an address in the tenant's ranges, or in the user's own exception
// ranges, is allowed. An address outside them is allowed when no range is set and the
// country rule (if any) lets its country in; when ranges are set it is allowed only
// through a country allow-list. So: no ranges and no country rule allow everything;
// any range denies by default; a country deny-list only narrows the open case.
//
// # Caveats
//
// Country rules need a GeoIP database (Config.GeoIPDatabase); without one they are kept
// but not enforced, and the administrators' page says so. An address the database does
// not place (private ranges, say) has no country: an allow-list refuses it, a
// deny-list lets it in. Rules are cached per tenant for a few seconds (Service.TTL);
// a change made in this process takes effect at once, one made by another server
// process (or the command line) within the TTL.
package firewall
