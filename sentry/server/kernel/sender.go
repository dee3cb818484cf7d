package kernel

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Sender is the client's stream as the kernel reaches it. The front
// implements it: it owns the stream (attached, replaced or detached as
// the client's sessions come and go), the replies held for a batch, the
// routes of call channels' replies and the ProcQuery answers it receives.
// Every message a Sender sends carries, or is preceded by, the replay
// records changed since the last one, which it asks of the kernel under
// its send lock. A Sender's methods must be called with the kernel lock
// released.
type Sender interface {
	// Push sends a server-initiated message; it is dropped (and logged)
	// if no stream is attached.
	Push(p *sentrypb.Push)
	// Send sends m, or fails if no stream is attached.
	Send(m *sentrypb.ServerMessage) error
	// SendBuilt sends the message build returns (nothing if nil),
	// building it under the send lock so that it is ordered with the
	// state records; it fails without calling build if no stream is
	// attached.
	SendBuilt(build func() *sentrypb.ServerMessage) error
	// Ask pushes q and waits for the client's answer (an error wrapping
	// EIO if it does not come in time, the client goes away or the
	// client answered with an errno, which is wrapped instead). It must
	// not be called on the goroutine that receives the client's
	// messages.
	Ask(q *sentrypb.ProcQuery) (*sentrypb.ProcAnswer, error)
	// Blocking says a call is about to block (Task.Block): what the
	// stream holds back for a call channel's reply goes now, as that
	// reply may be the blocked call's own, which only another thread's
	// call ends, and that thread may be waiting for what is held.
	Blocking()
}

// Grant is what the peer's authenticated identity lets its application
// be; the front makes it from the peer's connection, never from its
// messages.
type Grant interface {
	// Principal names the peer ("uid:1000", "tls:CN=...").
	Principal() string
	// MayRunAs reports (an error wrapping EPERM) whether the
	// application may hold the given user and group ids.
	MayRunAs(uids, gids []uint32) error
}

// Files is what the kernel asks of the server's file system calls, which
// are above it: a synthesized file opened again for a Restore, and the
// client caches' lease revocations a call makes (an inotify watch's, an
// open's of an owned file), which the front grants.
type Files interface {
	// RestoreSyntheticFile rebuilds, for a Restore, a description of a
	// synthesized file, opened again by path as open(2) opens it; c
	// (nil: no process) resolves the path.
	RestoreSyntheticFile(c *Task, fs *sentrypb.FileState) (*fdesc.File, error)
	// RevokeLeasesForWatch revokes every read and path lease of the
	// client's before an added inotify watch is answered (its cached
	// reads would raise no IN_ACCESS); none is granted while it has
	// watches.
	RevokeLeasesForWatch()
	// OwnedFileOpened voids the owned claim on gofer file d, which a
	// call opens, and revokes its client's lease if granted; it returns
	// once that client acknowledged (or the lease expired).
	OwnedFileOpened(d *vfs.Dentry)
}
