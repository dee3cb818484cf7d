// Package ptrace is the remote sentry's half of ptrace(2): the state of
// one traced thread's relation to its tracer and of its ptrace-stop, and
// the rules that need no process tree (which options and requests are
// valid, who may trace whom, which option a clone's flags call for, the
// wait status and record of a stop).
//
// The server's glue (sentry/server/kernel/ptrace.go, the call in
// sentry/server/syscalls/ptrace.go) links a Tracee to the
// tracee's and the tracer's threads, serves the forwarded requests and
// the tracee's PtraceStop calls, and reports stops and exits to the
// tracer's wait. The tracee's registers and memory are the client's
// (sentry/client/ptrace.go).
//
// It depends on gVisor's pkg/abi/linux (request and option numbers),
// golang.org/x/sys/unix and proto/sentrypb (PtraceState records); it
// owns no goroutines.
//
// Lock order: a Tracee has no lock of its own; its owner's lock
// (kernel.Kernel.Mu) protects every field and method.
package ptrace
