// Package faultproxy is a TCP proxy for tests that sits between a client and a server on
// loopback and resets, stalls, black-holes or refuses connections at random, reproducibly
// from a seed. It works on bytes, so TLS and any other protocol pass through untouched.
//
// # Caveats
//
// Fault choices are drawn in the order connections are accepted, so a seed gives the same
// sequence only when the client connects one at a time; concurrent dials may be accepted
// in any order. Byte offsets count the bytes forwarded in both directions together. The
// proxy listens on 127.0.0.1 only and is not meant for production traffic.
package faultproxy
