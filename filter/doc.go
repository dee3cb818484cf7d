// Package filter builds and installs the seccomp-bpf filters of the two
// daemons, the gofer and the server, with gVisor's pkg/seccomp.
//
// It owns the syscall lists: runtime.go (what the Go runtime, gRPC and
// TLS need in every daemon), gofer.go and server.go (what each daemon's
// own work needs on top). A daemon installs its filter once it is set up
// (flags parsed, log and profile files open, listener bound, mounts
// done), on every thread at once (SECCOMP_FILTER_FLAG_TSYNC); from then on
// a call outside its list kills the whole process (or, for debugging,
// traps into a Go stack trace or is only logged by the kernel: Mode).
//
// The lists name what the daemon's own code makes, never the
// application's system calls: the server emulates those and issues none
// of them on the host. A change that makes a daemon issue a new system
// call on the host adds it (with argument checks where cheap) to that
// daemon's file; the e2e and chaos suites run with the filters in kill
// mode, so a forgotten one fails there.
//
// It depends on gvisor.dev/gvisor/pkg/seccomp (which pulls in no sentry
// kernel state) and golang.org/x/sys/unix. It has no state and no locks.
package filter
