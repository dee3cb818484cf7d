// Package bench compares, side by side in one run, the cost of system calls
// and whole workloads natively, under runsc-decoupled with the embedded
// (Unix socket) sentry, and with an external sentry over TCP loopback.
//
//	go test -run=NONE -bench=. ./test/bench/
//
// run.sh wraps that and formats the results.
package bench
