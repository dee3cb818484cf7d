package fdesc

import (
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
)

// Call is the system call a file operation runs in, as a file kind sees
// it: what it may do with the call, not who made it. gVisor hands its
// FileDescription methods a context.Context and finds the task in it;
// here the few things a file kind needs of its call are methods, and
// the kernel, which made the call, is the only code that may recover
// its own call type from a Call (to find the calling thread for job
// control, a dentry's pins, the effects committed with the reply).
//
// A Call is used by the goroutine running the call only.
type Call interface {
	// Block waits until ch is closed or timeout fires (either nil:
	// never). It returns ETIMEDOUT on timeout and ERESTARTSYS when the
	// call is interrupted, its thread killed or its client freed.
	Block(ch <-chan struct{}, timeout <-chan time.Time) error
	// Seq is the call's number on its client's stream (0: a call the
	// server makes for itself).
	Seq() uint64
	// Resent says the call may be one its client re-sent after a
	// Restore: in flight when a server died, its first execution's
	// effects may have happened on that server, its reply lost.
	Resent() bool
	// NextGoferOrigin names the call's next gofer mutation to the
	// gofer's reply cache in o; each mutation of one call gets its own
	// part, so that a call writing twice is not answered from the cache
	// for its own first write. It reports false, o untouched, for a
	// call that needs no origin (the server's own). The caller's o lets
	// it make the origin with its request, in one allocation.
	NextGoferOrigin(o *goferpb.Origin) bool
	// GoferWrote notes the attributes a gofer write of the call
	// returned (the file's size after it, for the write's record).
	GoferWrote(st *goferpb.Stat)
	// Creds are the caller's credentials (zero for a call with no
	// calling thread: a PageWrite, a Rewrite).
	Creds() auth.Creds
	// PID is the calling process's id (0 for a call with no calling
	// thread).
	PID() int32
	// RaiseSIGPIPE makes the caller get SIGPIPE with the call's reply
	// (a write with no reader), unless it handles or blocks it.
	RaiseSIGPIPE()
}
