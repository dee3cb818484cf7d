// Package filelock is a client's table of advisory file locks: POSIX
// record locks (fcntl F_SETLK, owned by an fd table, Linux's
// files_struct), open file description locks (F_OFD_SETLK, owned by the
// description) and flock(2) locks (whole-file, owned by the description,
// in a space of their own), keyed by inode number. POSIX and OFD locks
// conflict with each other. It splits and merges ranges as Linux does,
// blocks a waiter until no other owner's lock conflicts, and detects
// deadlocks between POSIX owners.
//
// Locks are server state the client cannot rebuild by itself: every
// change is reported (the changed hook: the server touches the lock/<ino>
// record), the server reads a file's locks back (Locks) to build that
// record, and a Restore takes them again (Restore). gVisor's fsimpl/lock
// implements the same range rules, but it cannot list the locks it holds
// (which the replay log needs) nor detect deadlocks, so the table is
// this package's.
//
// What it owns: the locks and the wait-for edges between POSIX owners.
// The owners are the server's (an fd table, an open file description:
// the type parameters T and F); when a lock goes with its owner (an fd
// closed, a description released) is the server's decision, as are the
// system calls (fcntl, flock) and the record's encoding.
//
// Dependencies: package wake only. It must not import the server or the
// replay capture: the server passes its hook in.
//
// Who imports it: the server package and kernel/fdtable (a POSIX lock's
// owner is an fdtable.Table). The leaves below the subsystems (syserr,
// wake, auth, ksignal, ktimer, memacct, replay) must not.
//
// Lock order: Table.mu nests inside kernel.Kernel.Mu and fdtable.Table.mu
// (closing an fd drops POSIX locks); nothing is taken inside it but what the
// changed hook takes (replay.Tracker.mu, a leaf). A blocking Lock waits
// with Table.mu released.
package filelock
