package kernel

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/attrrun"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/replay"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// FSContext is a process's root, working directory and umask, shared by
// the processes a clone with CLONE_FS made (a fork copies it, an exec
// keeps it). All fields are protected by the kernel lock (Kernel.Mu).
type FSContext struct {
	// Refs counts the processes using it.
	Refs int
	// ID is the replay-state id (0 until first reported).
	ID uint64
	// Cwd is the working directory; never nil once in use.
	Cwd *vfs.Dentry
	// Root is the directory chroot(2) made the root of the context's
	// walks (Task.FSRoot); nil: the VFS's root. Set by chroot and
	// Restore (which then set Kernel.Rooted first).
	Root *vfs.Dentry
	// Umask is the file mode creation mask (0777 bits only).
	Umask uint32
	// MntNS is the mount namespace of the context's walks (0: the
	// sandbox's first): Linux's nsproxy->mnt_ns, kept on the fs context
	// since a new namespace always comes with a context of its own
	// (unshare's CLONE_NEWNS implies CLONE_FS; clone refuses
	// CLONE_NEWNS|CLONE_FS). Set by NewMountNSLocked, clone and Restore
	// (which then set Kernel.Namespaced first); protected by Kernel.Mu.
	MntNS uint64
}

// Copy is a context of one process's own with fs's root, cwd, umask and
// mount namespace (fork without CLONE_FS, unshare(CLONE_FS)).
// Precondition: the kernel lock is held.
func (fs *FSContext) Copy() *FSContext {
	return &FSContext{Refs: 1, Cwd: fs.Cwd, Root: fs.Root, Umask: fs.Umask, MntNS: fs.MntNS}
}

// ReplayOrder places its record among a message's (ReplayObject).
func (fs *FSContext) ReplayOrder() (replay.Order, bool) { return OrderFS, fs != nil }

// SigTable is a process's signal handler table as a replay object (the
// table is package ksignal's, shared by the processes a clone with
// CLONE_SIGHAND made).
type SigTable struct{ Handlers *ksignal.Handlers }

// ReplayOrder places its record among a message's (ReplayObject).
func (s SigTable) ReplayOrder() (replay.Order, bool) { return OrderSig, s.Handlers != nil }

// ExecPlan is a planned exec, not yet committed to the process: made by
// the exec call's planning (the server's exec.go), committed or
// abandoned by the same call, so it belongs to that call's goroutine.
type ExecPlan struct {
	// Plan is what the client maps and starts.
	Plan *sentrypb.ExecPlan
	// Exe is the file executed (a script's, not its interpreter's).
	Exe *vfs.Dentry
	// IDs are the file_ids the plan holds (released if it is abandoned).
	IDs []uint64
	// Image are the attributes of the ELF file the plan loads (not a
	// script's, nor the dynamic loader's): its set-id bits apply.
	Image auth.FileAttrs
	// NoNewPrivs ignores Image's set-id bits (prctl PR_SET_NO_NEW_PRIVS).
	NoNewPrivs bool
}

// AttrRun is what a run of a thread's posted attribute calls (chown,
// chmod, utimensat by path of one regular file, run one after the
// other) holds back from the gofer: the changes merged so far, sent as
// one SetStat before anything reads the file's attributes or the run
// ends. The front starts and ends a run; each of its calls finds it in
// its call. Owned by the thread's worker goroutine: no lock.
type AttrRun struct {
	// Pending are the held changes, of file Dentry (pinned while any is
	// held); PartReplies the replies of the calls that made them, which
	// get the errno of a change that failed.
	Pending     attrrun.Pending
	Dentry      *vfs.Dentry
	PartReplies []*sentrypb.Reply
	// Unlinks says the run is one of posted unlinks (unlinkrun.go)
	// rather than of attribute calls; Held are the unlinks it holds, in
	// the calls' order.
	Unlinks bool
	Held    []HeldUnlink
}
