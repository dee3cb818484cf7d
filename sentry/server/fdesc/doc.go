// Package fdesc is the start of the server's file layer (gVisor's
// vfs.FileDescription and its FileAsync): the parts of an open file
// description that know nothing of a client's kernel state. Today it
// holds Async, a description's owner, I/O signal and O_ASYNC watcher
// (fcntl F_SETOWN, F_SETOWN_EX, F_SETSIG, O_ASYNC), and DirCursor, a
// directory description's getdents position and its encoding as the
// offset of the description's replay record, and Call, the system call a
// file operation runs in as a file kind sees it (blocking, the call's
// seq and gofer Origin, the caller's credentials and pid, SIGPIPE; the
// server's syscallCtx implements it). The description itself (the
// server's file and fileImpl) moves here once its dentry is an
// interface (docs/ARCHITECTURE.md, "The remote sentry's packages").
//
// What it owns: the owner's type and id, the signal number and the
// watcher's stop channel and fd; a cursor is a value (the description's
// offset lock guards the server's copy). Whether an owner exists, sending the
// signal, the watcher goroutine (it needs the description's readiness)
// and the replay record (FileState) are the server's (leases.go).
//
// Dependencies: none of the server but the leaf auth (Call's
// credentials); proto/goferpb (Call's gofer Origin).
//
// Who imports it: the server package. The leaves below the subsystems
// (syserr, wake, auth, ksignal, ktimer, memacct, replay) must not.
//
// Lock order: Async.mu is a leaf, taken with or without
// clientState.mu held and never held while signalling.
package fdesc
