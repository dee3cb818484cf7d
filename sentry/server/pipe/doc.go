// Package pipe is the pipe object, as gVisor's kernel/pipe: the bytes a
// pipe holds up to its size (F_SETPIPE_SZ; posted writes, which must not
// block, past it by at most MaxPostedOverflow), the room it grants its
// only writer for posted writes (PostedRoomLocked), the counts of its open read
// and write ends, the wakeups of blocked calls and of poll readiness
// (Linux's rd_wait and wr_wait), the reservation of its size in the
// client's memory account, and the table of the pipes of open FIFOs
// (FIFOTable), keyed by the node's inode number.
//
// What it owns: a pipe's buffer, size, end counts and replay counters
// (its id, the committed bytes written and read, the bytes of a write
// already read before a recovery: Restore rebuilds a pipe from its
// PipeState). The open file descriptions (kernel.PipeEnd), the
// blocking of a call (the caller waits on ChangedLocked), SIGPIPE, the
// per-call record of pipe I/O and the replay records are the server's
// (package kernel's pipe.go, fifo.go and state.go, package syscalls'
// splice.go): a pipe reports a
// change of its end counts or size through the onChange hook it is
// given. The type parameter N is the server's FIFO node (its dentry).
//
// Dependencies: packages wake and memacct, proto/sentrypb (PipeState)
// and golang.org/x/sys/unix. It imports nothing of the server.
//
// Who imports it: the server package. The leaves below the subsystems
// (syserr, wake, auth, ksignal, ktimer, memacct, replay) must not.
//
// Lock order: FIFOTable.mu before Pipe.mu; both nest inside
// kernel.Kernel.Mu (taken with or without it held). Two pipes' mu are
// taken together only by LockTwo, the lower inode number first (splice,
// tee). The onChange hook (replay.Tracker.mu, a leaf) is called with no
// pipe lock held; memacct is lock-free.
package pipe
