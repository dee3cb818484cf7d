// Package kobj brings gVisor's kernel objects into the remote sentry.
//
// gVisor's objects (pkg/sentry/vfs file descriptions such as
// fsimpl/eventfd, socket/unix/transport endpoints, pkg/tcpip endpoints)
// are written against two things the remote sentry does not otherwise
// have: application memory reached through a usermem.IO, and readiness
// reported through a waiter.Queue. This package adapts both to the
// server's world:
//
//   - IO (memio.go) is a usermem.IO over the forwarded call's
//     sysabi.Memory: reads see the inputs the client copied out of the
//     application, writes become the reply's outputs. Sequence builds a
//     usermem.IOSequence over an iovec array, so gVisor code that takes
//     an IOSequence reads and writes the application's own buffers.
//   - Watch (watch.go) turns a waiter.Queue's notifications into the
//     "closed when it may have changed" channels the server's poll,
//     select, epoll and blocking calls wait on.
//   - VFS (vfs.go) is the one gVisor VirtualFilesystem the server needs
//     for anonymous file descriptions (eventfd, inotify), with the context
//     gVisor code expects.
//   - Inotify and InotifyTarget (inotify.go) are gVisor's vfs.Inotify and
//     a watchable inode for it (a vfs.Dentry that only carries watches),
//     with a mirror of each instance's watches for recovery; the context
//     answers the unique ids gVisor's kernel would (uniqueid).
//
// What it owns: nothing of a client's state; the objects belong to the
// server's open file descriptions that wrap them.
//
// Dependencies: gVisor's usermem, safemem, hostarch, waiter, context,
// sentry/vfs, sentry/arch, sentry/uniqueid and fsimpl/eventfd (none of
// which needs kernel.Kernel), and sentry/sysabi. It must not import the
// server package.
//
// Lock order: Watch.mu is a leaf, taken inside a waiter.Queue's
// notification (which may run under the object's own locks); nothing is
// called with it held. Inotify.mu (the mirror) is taken before gVisor's
// inotify locks (AddWatch); an InotifyTarget's onZero callback runs with
// none of them held.
package kobj
