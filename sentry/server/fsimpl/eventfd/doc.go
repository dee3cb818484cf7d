// Package eventfd is the eventfd file kind (gVisor's fsimpl/eventfd, by
// way of kobj.Eventfd): eventfd and eventfd2's descriptions, their reads
// and writes of the counter, blocking until it allows them, and their
// readiness.
//
// What it owns: File, the kind (its kobj.Eventfd is immutable; the
// counter has the object's own lock), and the counter as the calls whose
// replies were built left it (File.mu: a call notes its change on a
// CountRecorder, the server's call, which commits it with its reply).
// The system calls that make one and the replay record (from State) are
// the server's.
//
// Dependencies: fdesc (the description and the call), fsimpl/anon (the
// anonymous inode, blocking), kobj. Nothing of the server package.
//
// Who imports it: the server package.
//
// Lock order: File.mu (inside kernel.Kernel.Mu) >
// kobj.Eventfd.mu, a leaf but for gVisor's queue lock, whose
// notifications take only kobj.Watch.mu (a leaf).
package eventfd
