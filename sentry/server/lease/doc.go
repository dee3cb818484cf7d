// Package lease is a client's table of file leases (fcntl F_SETLEASE):
// a lease (read or write) is held by an open file description of a
// regular file, keyed by the file's inode number; another open that
// conflicts (a write lease: any open; a read lease: an open for writing)
// breaks it: the holders are notified, and the opener waits until they
// downgrade or release the lease, or lease-break-time passes, after
// which the lease is taken away (Table.Break). As on Linux a lease is
// refused (EAGAIN) while a conflicting open exists.
//
// What it owns: the leases, the breaks in progress and lease-break-time.
// The holders are the server's descriptions (the type parameter F); which
// files may hold a lease, the open counts, the break signal (the file's
// owner and I/O signal) and the replay records are the server's
// (package kernel's async.go; the fcntl commands in package syscalls'
// leases.go).
//
// Dependencies: package wake and golang.org/x/sys/unix. It imports
// nothing of the server.
//
// Who imports it: the server package. The leaves below the subsystems
// (syserr, wake, auth, ksignal, ktimer, memacct, replay) must not.
//
// Lock order: Table.mu is a leaf in kernel.Kernel.Mu's order (taken with or
// without it held); Break calls its notify and changed callbacks and
// waits with it released.
package lease
