// Package eventfd is the eventfd file kind (gVisor's fsimpl/eventfd, by
// way of kobj.Eventfd): eventfd and eventfd2's descriptions, their reads
// and writes of the counter, blocking until it allows them, and their
// readiness.
//
// What it owns: File, the kind (its kobj.Eventfd is immutable; the
// counter has the object's own lock). The system calls that make one
// and the replay record (count and semaphore mode, from State) are the
// server's.
//
// Dependencies: fdesc (the description and the call), fsimpl/anon (the
// anonymous inode, blocking), kobj. Nothing of the server package.
//
// Who imports it: the server package.
//
// Lock order: kobj.Eventfd.mu is a leaf but for gVisor's queue lock,
// whose notifications take only kobj.Watch.mu (a leaf).
package eventfd
