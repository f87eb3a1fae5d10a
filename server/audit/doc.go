// Package audit makes the server's audit log tamper-evident and gets it out of the
// database: it chains each tenant's events with an HMAC keyed from the master key,
// verifies and exports the chain, tags requests with an ID the events carry, and
// streams every event to a JSON-lines file and to syslog.
//
// # Caveats
//
// The chain proves that events were neither edited, removed, inserted nor reordered
// by someone without the key; someone with write access to the database can still
// remove the newest events together with the chain's head. The copies streamed to a
// file or syslog (preferably on another host) are what detects that.
package audit
