package kernel

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/durable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inotify"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/synth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/handlebind"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/stdio"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/lease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mapped"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mqueue"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pipe"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/sysvipc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wberr"
)

// Kernel is one client's kernel: its PID namespace, processes, fd
// tables, VFS view and stdio. It is deliberately not tied to a stream: a
// later reconnection attaches a new stream to the same client. The
// front's client holds it and names it; it names nothing of the front.
type Kernel struct {
	// Socks is the client's socket state (package kernel's Sockets, its
	// own locks; sockets.go).
	Socks Sockets
	// Inotify is the client's watched inodes (inotify.go; its own
	// lock).
	Inotify inotify.Targets

	// ID, Grant, OriginID, Log, Gofer, Ctx, Cancel, Done are immutable
	// after creation.
	ID string
	// Grant is what the peer's authenticated identity allows (grant.go:
	// the front's grant).
	Grant Grant
	// OriginID is the client id the gofer's reply cache sees: id
	// qualified by the peer's principal, so that a client cannot claim
	// another peer's id and be answered with its replies.
	OriginID string
	// Unsupported holds the names of the unsupported calls and flags
	// already logged (the server's: each is logged once per server);
	// StraceOn and hostNet are the server's Config.Strace and
	// Config.Network == NetworkHost; attrs is the server's attribute
	// cache, shared by its clients; readLeases the server's registry of
	// the clients' read and path leases (readlease.go, pathlease.go).
	// What the kernel reads of the server (the front), set by
	// newClientState; immutable.
	Unsupported       *sync.Map
	StraceOn, HostNet bool
	Attrs             *goferclient.AttrCache
	ReadLeases        *readlease.Registry
	// PageWriteSlots holds a token per PageWrite running
	// (MaxPageWritesInFlight). Made by newClientState.
	PageWriteSlots chan struct{}
	// Binder binds the file handles in the client's state records to it
	// (package handlebind). Set from newVFS's attach, immutable after newClientState.
	Binder handlebind.Binder
	Log    hclog.Logger
	Gofer  goferpb.GoferClient
	// LeaseHolder holds the client's read leases (readlease.go); nil
	// unless it asked for them. Immutable after newClientState.
	LeaseHolder *readlease.Holder
	// PathLeases says the client asked for path leases (pathlease.go;
	// then leaseHolder is set). Immutable after newClientState.
	PathLeases bool
	// FatalSignalsToClient says the client keeps a blocked signal whose
	// default action is fatal pending (sentrypb.FeatureFatalSignals):
	// such a signal is pushed to it rather than ending the process
	// (signals.go). Immutable after newClientState.
	FatalSignalsToClient bool
	// PostSetStats lets a run of posted attribute calls post its
	// SetStat to ride the gofer's next call (PostAttrRun). Immutable
	// after newClientState.
	PostSetStats bool
	// CompleteNames says the client asked for its mkdirs' complete
	// names leases (Hello.complete_names, with path leases; pathlease.go).
	// Immutable after newClientState.
	CompleteNames bool
	// Ctx scopes the client's gofer RPCs (and names leaseHolder);
	// Cancel is called by destroy.
	Ctx    context.Context
	Cancel context.CancelFunc
	// Done is closed by destroy; blocked calls then return.
	Done chan struct{}
	// Workers counts the goroutines that may use the kernel's handles:
	// the front's call workers and the kernel's own (the flusher), which
	// destroy waits for before it releases them.
	Workers sync.WaitGroup

	// Out is the client's stream as the kernel sends on it (the front's
	// clientStream, session.go). Immutable.
	Out Sender

	// Files is what the kernel asks of the calls above it (the server
	// package's kernelFiles). Immutable.
	Files Files

	// Stdio describes the client's fds 0-2 (from Hello). Immutable.
	Stdio [3]*sentrypb.StdioInfo
	// Stdin buffers data answering StdinWant; it has its own lock.
	Stdin stdio.Stdin
	// StdioInos are the inode numbers of the client's fds 0-2 (atomic).
	StdioInos stdio.Inodes
	// VFS is the client's mount namespace. Immutable pointer.
	VFS *vfs.VFS
	// Synth is the client's synthesized /dev and /proc (package
	// fsimpl/synth; what it reads of the kernel is synth.go's). Immutable
	// pointer.
	Synth *synth.FS
	// Maps holds files the client maps (exec images, mmap; package
	// mapped); own lock. Immutable pointer.
	Maps *mapped.Table[*fdesc.File]
	// Fifos holds the pipes of the FIFOs the client has open; own lock.
	Fifos pipe.FIFOTable[*vfs.Dentry]
	// Mem is the memory account of the client's buffering objects
	// (package memacct); its limit is set at creation, its use is
	// atomic. Immutable pointer.
	Mem *memacct.Account
	// Locks holds the advisory file locks (package filelock; the calls in
	// package syscalls' locks.go). Immutable pointer.
	Locks *filelock.Table[*fdtable.Table, *fdesc.File]
	// IPC is the client's SysV IPC namespace (package syscalls: sysvipc.go);
	// own lock, taken after Mu. Immutable pointer.
	IPC *sysvipc.Registry
	// MQ is the client's POSIX message queues (package syscalls:
	// mqueue.go); own lock, taken after Mu. Immutable pointer.
	MQ *mqueue.Registry
	// SegFileMu serializes opening (and making) SysV segments' files, so
	// that processes attaching one at once make it once. Held across
	// gofer RPCs, never with Mu.
	SegFileMu sync.Mutex
	// Leases holds the file leases and lease-break-time (package lease;
	// their breaks in async.go, the calls in package syscalls'
	// leases.go). Immutable pointer.
	Leases *lease.Table[*fdesc.File]
	// Sysctl holds the writable /proc/sys numbers (sysctl.go); it has its
	// own lock.
	Sysctl Sysctls
	// Trk collects changes of the replay state (state.go); own lock.
	Trk *Tracker
	// Dur tracks writes not yet durable (package durable; the flusher in
	// durable.go); own lock. Immutable pointer.
	Dur *durable.Tracker[*fdesc.File]
	// WbErrs keeps the failed writes behind of each file for the next
	// fsync of any description (package wberr; its own lock).
	WbErrs wberr.Table
	// Releases queues gofer handles to release; own lock. Immutable
	// pointer.
	Releases *goferclient.ReleaseQueue
	// Clocks are the application's clocks (Hello.clocks), for timers.
	// Immutable.
	Clocks ktimer.Clocks

	// Mu is the kernel lock: it protects the process tree, threads, signal
	// dispositions, credentials, fs contexts and the tty state below.
	Mu sync.Mutex
	// Destroyed is set by destroy. Protected by Mu.
	Destroyed bool
	// AppEnded is set when the client said Goodbye (its application is
	// over) before destroy: only then are its gofer directories (/dev/shm's
	// and its tmpfs mounts') removed. A stream that merely broke may be a
	// recovery racing this session's end (a missed heartbeat, then a
	// reconnect to this same server) or a dead client that `resend` will
	// revive: their successor restores from those directories.
	AppEnded atomic.Bool
	// Started is set by Start or Restore (markStartedLocked), cleared by a
	// Start that failed. Protected by Mu.
	Started bool
	// Procs holds every process, zombies included, by PID. Protected by Mu.
	Procs map[int32]*Process
	// Threads holds every thread a call may name (live, or killed but not
	// yet reaped), by TID. Protected by Mu.
	Threads map[int32]*Thread
	// LastTID is the last TID handed out. Protected by Mu.
	LastTID int32
	// lastGen is the last Process.Gen handed out. Protected by Mu.
	lastGen uint64
	// Init is the first process (PID 1). Protected by Mu.
	Init *Process
	// Waitq is notified whenever a child changes state. Protected by Mu.
	Waitq wake.Notifier
	// AppExited and appStatus record that init exited, and its wait
	// status. Protected by Mu.
	AppExited bool
	AppStatus int32
	// TTY is the state of a terminal on the client's stdio. Protected by Mu.
	TTY stdio.TTY
	// StdioSets are the stdio sets of spawned processes by id (spawn.go):
	// added by Spawn and Restore, never removed while the client lives.
	// Protected by Mu; a set's fields have their own rules.
	StdioSets map[uint32]*stdio.Set
	// SandboxNet is Hello.network (the server's network.go), nil without.
	// Immutable.
	SandboxNet *socket.SandboxNetwork
	// DevNodes are Hello.devices (devnodes.go). Immutable.
	DevNodes []*sentrypb.DeviceNode
	// Ptys are the pseudo-terminals of /dev/ptmx and /dev/pts
	// (pty.go); own lock.
	Ptys pty.Table

	// Rewrites maps the seq of each write a Restore said is retained
	// (WriteState, not a pipe write) to its file, which the map holds a
	// reference on until the Rewrite arrives. Protected by Mu.
	Rewrites map[uint64]*fdesc.File
	// RewritesFailed maps the seq of each Rewrite through a restored
	// description whose write failed (durable.Tracker.Fail) to that
	// description, which the map holds a reference on until a Rewrite of
	// the same seq arrives again: that one is made through it too, so
	// that made it ends the failure the tracker holds. Protected by Mu.
	RewritesFailed map[uint64]*fdesc.File
	// rewrote are the ranges this kernel's Rewrites wrote (their bytes
	// not found in the file), appended by Rewrite and read by the
	// writes of re-sent calls (redoOverRewrites). At most one per
	// retained write of the recovery. Protected by Mu.
	rewrote []rewroteSpan
	// rewriteMtimeWarned says a Rewrite could not put its file's mtime
	// back once already: the first failure is logged as a warning, the
	// others at debug level. Set by Rewrite; atomic.
	rewriteMtimeWarned atomic.Bool
	// restoreTabs and restoreFSs hold the fd tables and fs contexts a
	// Restore is rebuilding, by id. Protected by Mu.
	restoreTabs map[uint64]*fdtable.Table
	restoreFSs  map[uint64]*FSContext
	// RestorePairs holds the socketpairs a Restore is rebuilding, by
	// connection id (the server's glue adds each end, restore_files.go
	// links them; used only by the restore, which runs before any call).
	RestorePairs map[uint64]*RestoredPair
	// ResentBelow is the seq of the Restore call: calls with lower seqs
	// are re-sent ones.
	ResentBelow atomic.Uint64
	// OwnRemovals is this client's identity for its unlinks and renames
	// through the attribute cache (goferclient.WithRemovals on ctx): its
	// address tells them from the others', which make its cached
	// names of their directories walked again (the vfs's lookupName,
	// goferclient.AttrCache.RemovedSince).
	OwnRemovals atomic.Uint64
	// Rooted is set once any fs context got a root of its own (chroot,
	// or a Restore of one), never cleared: until then a walk takes no
	// lock to learn its caller's root (Task.FSRoot). Atomic.
	Rooted atomic.Bool
	// Namespaced is set once any fs context is in a mount namespace
	// other than the first (unshare, clone with CLONE_NEWNS, or a
	// Restore of one), never cleared: until then a walk takes no lock
	// to learn its caller's namespace (Task.MountNS). Atomic.
	Namespaced atomic.Bool
	// LastMntNS is the last mount namespace number given (FSContext.MntNS).
	// Protected by Mu; set by NewMountNSLocked and Restore.
	LastMntNS uint64
}

// LogUnsupportedOnce logs, once per server, that the application used a
// feature (named by what) the server refuses with an errno.
func (k *Kernel) LogUnsupportedOnce(what string) {
	if _, logged := k.Unsupported.LoadOrStore(what, struct{}{}); !logged {
		k.Log.Warn("unsupported", "what", what)
	}
}
