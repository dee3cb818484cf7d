// Package fdesc is the server's file layer (gVisor's vfs.FileDescription
// and its FileAsync): the open file description and what every file
// kind shares, knowing nothing of a client's kernel state.
//
// What it owns:
//   - File, an open file description: its references, access mode and
//     status flags, offset lock, offset and its version, getdents cursor
//     (DirCursor, with its encoding as the offset of the description's
//     replay record), replay id and reported offset, the deferred error
//     of a posted write (WBErr), whether it holds locks or a lease, and
//     its owner, I/O signal and O_ASYNC watcher (Async: fcntl F_SETOWN,
//     F_SETOWN_EX, F_SETSIG, O_ASYNC);
//   - FileImpl, what kind of file a description is (each file kind
//     implements it; FileBase gives the defaults);
//   - Call, the system call a file operation runs in as a file kind sees
//     it (blocking, the call's seq, whether it was re-sent after a
//     Restore, its gofer Origin, the gofer write's attributes, the
//     caller's credentials and pid, SIGPIPE; the server's kernel.Task
//     implements it).
//
// What it is given: a description's Dentry (the path it was opened by;
// the server's dentry), its Owner (its client: what its last
// reference's release must tell: the durability tracker, inotify's
// close event, the lock and lease tables), its Tracker (where its
// replay changes go, once an fd table holds it) and, per offset change,
// the OffsetRecorder (the call whose reply reports it). Whether an
// Async owner exists, sending the signal, the watcher goroutine and the
// replay record (FileState) are the server's (package kernel's async.go
// and state.go).
//
// Dependencies: none of the server but the leaf auth (Call's
// credentials); proto/goferpb (Stat, Origin); gVisor's pkg/abi/linux
// (poll bits).
//
// Who imports it: the server package, kernel/fdtable and the file kinds'
// packages (fsimpl/*). The leaves below the subsystems (syserr, wake,
// auth, ksignal, ktimer, memacct, replay) must not.
//
// Lock order: File.OffMu is first in the server's order (held across
// gofer RPCs, before kernel.Kernel.Mu). Async.mu is a leaf, taken with or
// without kernel.Kernel.Mu held and never held while signalling. A
// description's atomics (Flags, ID, OffRep, WBErr, ...) need no lock;
// OffCommitted is written under kernel.Kernel.Mu.
package fdesc
