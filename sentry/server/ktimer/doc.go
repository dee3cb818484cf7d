// Package ktimer is the remote sentry's timer core: gVisor's ktime.Clock
// and ktime.Timer over the server's host clocks, seen through an offset so
// that times are those of the application's clocks on the client.
//
// A Timer has a ktime.Setting (next expiration, period) and calls its
// ktime.Listener with the number of expirations when it fires; interval
// timers, POSIX timers and timerfds are built on it (they own what an
// expiration does: a signal, a readable fd).
//
// Clocks are the application's three clocks a timer may use, and abi.go
// converts struct itimerval and itimerspec to and from durations (with
// Linux's checks).
//
// It owns no kernel state and depends only on gVisor's pkg/sentry/ktime
// (Time, Setting; no kernel.Kernel) and golang.org/x/sys/unix.
//
// Lock order: Timer.mu is a leaf. A Listener is called with no lock of
// this package held, so it may take its owner's locks (which may be held
// around Set, Get and Destroy); an expiration computed just before a
// concurrent Set or Destroy may therefore still reach the listener, which
// must check its own state.
package ktimer
