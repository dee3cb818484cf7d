//go:build !cgo

package main

// builtWithCgo is false in the static binary systrap needs.
const builtWithCgo = false
