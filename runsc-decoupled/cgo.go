//go:build cgo

package main

// builtWithCgo is true in a binary built with cgo, in which gVisor's
// systrap platform never starts (see platform/doc.go).
const builtWithCgo = true
