// Package mqueue holds the POSIX message queues of one IPC namespace (one
// client of the remote sentry): their names, owners, modes, attributes,
// queued messages and notification registrations, and the open queue
// descriptions (File) mq_open returns. It implements the semantics of
// Linux's ipc/mqueue.c for mq_open, mq_unlink, mq_timedsend,
// mq_timedreceive, mq_notify and mq_getsetattr; the system call layer
// (package syscalls: mqueue.go) copies arguments in and out, waits, and
// sends the notification signal.
//
// gVisor's kernel/mq and fsimpl/mqfs are not used: mqfs needs gVisor's
// vfs and kernel.Kernel for its files, and a restored server must rebuild
// each queue under its old id with its messages, leaving out the effects
// of calls whose replies the client has not received (below), which
// gVisor's queues do not expose.
//
// # What it owns and what it does not
//
// A Queue lives while it has a name or an open description: mq_unlink
// takes its name, the last File's Release removes a queue without one.
// Nothing here blocks: a send to a full queue or a receive from an empty
// one returns a channel closed when the queue changes, and the caller
// waits on it (interruptibly) and retries. Signals are the server's: a
// send that fires a registration returns it, and the caller raises the
// signal. A SIGEV_THREAD registration holds a reference to its netlink
// socket (a CookieSocket, so that this package does not import
// fsimpl/netlink) and sends it its cookie (Notification.Deliver, called
// without Registry.mu) when fired or removed by its owner; its record
// names the socket by its description's id (Hooks.FileID), and a
// restored one is linked to the restored socket (LinkSockets). Queued messages are charged to the client's memory cap through
// Hooks.Memory (a send beyond it: ENOMEM) and given back when received or
// when their queue goes.
//
// # Replay state
//
// Each queue is one record ("mq/<id>", MqueueState); a File's record is
// the server's (FileState.kobj names the queue). Every change marks the
// queue's record dirty through Hooks.Changed. Record builds a queue's
// state as of the calls whose replies the client has received: the
// messages added or taken by mq_timedsend and mq_timedreceive calls still
// pending (not yet Committed) are left out, because the client re-sends
// those calls after a Restore, so that each takes effect once.
//
// # Lock order
//
// Registry.mu is the only lock: it protects every field of the registry
// and of its queues, and the mutable fields of Files (their queue's
// state). Hooks are called with it held and must only take leaf locks.
// The server takes it inside kernel.Kernel.Mu and never the other way
// round.
package mqueue
