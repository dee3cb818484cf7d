// Package adversary attacks real runsc-decoupled daemons (the binary,
// started as an operator would) with a hostile client written in Go: each
// test is one hole a local attacker found (docs/SECURITY.md) and checks
// that it stays closed. It has no code outside its tests.
package adversary
