package kernel

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Task is one forwarded system call being executed: the call the
// server's handlers are given, made by
// the front's dispatch for the calling thread. It belongs to the
// goroutine executing it; its fields are set by dispatch before the
// handler runs and, where a field says so, by the handler or the
// walk. Its methods are what the packages below ask of a call
// (fdesc.Call, fdesc.OffsetRecorder, vfs.Caller, vfs.WalkObserver).
type Task struct {
	// Kernel is the calling client's kernel; Thread the calling thread
	// (nil for work the server does on its own behalf: a Restore's);
	// CallSeq the call's seq (0: the server's own); Sysno and Args the
	// call; Mem the application memory its inputs carry. Set by dispatch.
	Kernel  *Kernel
	Thread  *Thread
	CallSeq uint64
	Sysno   int32
	Args    [6]uint64
	Mem     *sysabi.Memory
	// Memory is Mem for a system call (dispatch): one allocation with
	// the Task.
	Memory sysabi.Memory
	// InputRoom holds Memory's regions when the call has no more than
	// it has room for (a write's one buffer): one allocation with the
	// Task. Set by dispatch.
	InputRoom [2]sysabi.Region
	// Intr is closed by Interrupt; Dead when the thread is killed.
	Intr <-chan struct{}
	Dead <-chan struct{}
	// Reply is the reply being built; handlers set its action.
	Reply *sentrypb.Reply
	// ReplyMsg is Reply for a system call (dispatch): one allocation
	// with the Task.
	ReplyMsg sentrypb.Reply
	// RaisedSIGPIPE asks dispatch to send SIGPIPE to the caller (EPIPE
	// write).
	RaisedSIGPIPE bool
	// Eff collects the effects committed with the reply (state.go).
	Eff *CallEffects
	// restoreNS, when restoreNSSet, is the mount namespace of a
	// Restore's walks (MountNS), whatever its thread's: set by
	// SetRestoreNS between them.
	restoreNS    uint64
	restoreNSSet bool
	// GoferSize is the file size a gofer write reported last (-1: none);
	// GoferStat is that write's whole Stat (nil: none).
	GoferSize int64
	GoferStat *goferpb.Stat
	// CachedWritten counts the bytes of the call's gofer writes that the
	// gofer's reply cache answered, unmade now (GoferWriteCached): a
	// Rewrite all of whose bytes were so answered wrote nothing.
	CachedWritten int
	// PageWrite is the mapped file id of a PageWrite being executed (0
	// for a system call): its own mapping is not told of the change.
	PageWrite uint64
	// Pinned are the dentries whose gofer handles the call uses
	// (HandleOf), unpinned when its reply is made (UnpinAll).
	Pinned []*vfs.Dentry
	// pinned1 and dirFile1 hold Pinned's and DirFiles' first entries:
	// most calls use one handle (rm -r's unlinkat relative to a
	// directory's fd, a file each), which then costs no allocation.
	pinned1  [1]*vfs.Dentry
	dirFile1 [1]*fdesc.File
	// DirFiles are gofer directory descriptions the call's path starts
	// at (NoteDirFile), a reference each until UnpinAll: HandleOf gives
	// a description's own handle for its dentry when the dentry has
	// none, instead of walking to it.
	DirFiles []*fdesc.File
	// DataNotInCall says the bytes this call writes are not in its inputs
	// (sendfile, splice, tee, copy_file_range read them from another
	// file): its write records then carry them (WriteState.data), so
	// that the client can retain them. Set by the handler.
	DataNotInCall bool
	// NoNewPrivs is the call's Syscall.no_new_privs (an execve of a
	// process with no_new_privs: set-id bits are ignored). Set once.
	NoNewPrivs bool
	// Scope restricts the call's walks (openat2's RESOLVE_* flags; nil:
	// none). Set by the call.
	Scope *vfs.ResolveScope
	// NotLeasable says the call's path walk crossed something other
	// than gofer files (/proc, /dev, an fd): its answer gets no
	// PathLease (pathlease.go). Set by the walk (MaySearch, lookupAt).
	NotLeasable bool
	// ListingPath is the getdents64's Syscall.listing_path when its
	// reply may carry the entries' lstat answers (pathlease.go).
	ListingPath string
	// AheadWanted and AheadNames are the getdents64's
	// Syscall.listing_ahead and ahead_names: the subdirectories whose
	// listings its reply may carry (sentry/server/dirahead.go); AheadCookie
	// its ahead_cookie (nil: none), set only on a posted one. Set once.
	AheadWanted int
	AheadNames  []string
	AheadCookie *uint64
	// AheadSiblings is its Syscall.ahead_siblings. Set once.
	AheadSiblings []string
	// PathView is what a path call's answer depends on as the call
	// began, when it may get a path lease (pathlease.go).
	PathView *PathView
	// AccessCreds, when set, are the credentials the call's permission
	// checks use instead of the caller's: access(2)'s real ids (Linux's
	// access_override_creds), for its walk too. Set by the handler.
	AccessCreds *auth.Creds
	// SyncedWrites says the handler makes this call's gofer writes
	// durable before its reply (a server-side copy too large for the
	// client's log to carry, syncedCopy): they are neither tracked for
	// durability nor reported as WriteStates. Set by the handler.
	SyncedWrites bool
	// GoferParts counts the gofer writes this call made: each has its
	// own Origin part, so that a call writing several times is not
	// answered from the gofer's reply cache for its own earlier write.
	GoferParts uint32
	// AttrRun is the run of posted attribute calls this call is part of
	// (the front's, attrrun.go), nil when none. Set by dispatch.
	AttrRun *AttrRun
	// Ahead is the calling thread's plan of writes ahead (Thread.Ahead),
	// for a system call its thread's worker runs; nil otherwise. Set by
	// dispatch.
	Ahead *vfs.WriteAhead
	// LeasedData and Posted are the call's Syscall.leased_data and
	// posted (leasedCopy, package copybehind). Set once.
	LeasedData []byte
	Posted     bool
	// PipeAheadWanted and PipeConsumed are the call's
	// Syscall.pipe_ahead_wanted and pipe_consumed (a read of a pipe:
	// syscalls' pipebehind.go). Set once.
	PipeAheadWanted, PipeConsumed bool
	// OwnedWrite is the call's Syscall.owned_write: its gofer writes
	// through the description that holds the owned claim on their file
	// keep it (readlease.WithOwnedWrite). Set once.
	OwnedWrite bool
	// WriteParts is the call's Syscall.write_parts: the counts of the
	// application's writes a merged write behind carries. Set once.
	// CutErr is the error a merged write's gofer write met going on
	// after a cut exactly between two parts (NoteCutBetweenParts), the
	// description's kept error then (sentry/server/posted.go). Set by
	// the call's handler.
	WriteParts []uint64
	CutErr     error
	// Created says the call's open made its file (createFile): the
	// description may claim an owned lease (readlease.go). Set by the
	// handler.
	Created bool
	// InstallFD is a posted open's Syscall.install_fd: the fd its
	// description goes at (postopen.go; nil: the lowest free). Set once.
	InstallFD *int32
	// CloseFile is a close's Syscall.close_file: the description the
	// client knew at the fd (0: unknown), by which a re-sent close tells
	// that the dead server ran it (syscalls' Close). Set once.
	CloseFile uint64
	// MissingIn is the directory an unlink's last name was found
	// missing from when the caller may make names there (negunlink.go).
	// Set by the handler.
	MissingIn *vfs.Dentry
}

var (
	_ fdesc.Call           = (*Task)(nil)
	_ fdesc.OffsetRecorder = (*Task)(nil)
	_ vfs.Caller           = (*Task)(nil)
	_ vfs.WalkObserver     = (*Task)(nil)
)

// WritesOwnedCopy is c's vfs.OwnedWriteCall: whether its client applied
// its writes to its copy of an owned file.
func (c *Task) WritesOwnedCopy() bool { return c != nil && c.OwnedWrite }

// BetweenParts is c's vfs.MergedWriteCall: whether written bytes of
// its write end exactly between two of its merged parts (WriteParts).
func (c *Task) BetweenParts(written int) bool {
	if c == nil || len(c.WriteParts) < 2 || written <= 0 {
		return false
	}
	var sum uint64
	for _, p := range c.WriteParts[:len(c.WriteParts)-1] {
		sum += p
		if sum == uint64(written) {
			return true
		}
		if sum > uint64(written) {
			return false
		}
	}
	return false
}

// NoteCutBetweenParts is c's vfs.MergedWriteCall: err is the error its
// write met going on at a cut between two parts.
func (c *Task) NoteCutBetweenParts(err error) { c.CutErr = err }

// Seq is c's fdesc.Call.Seq.
func (c *Task) Seq() uint64 { return c.CallSeq }

// GoferOrigin names this call to the gofer's reply cache; part tells
// apart the gofer mutations one call makes.
func (c *Task) GoferOrigin(part uint32) *goferpb.Origin {
	return &goferpb.Origin{ClientId: c.Kernel.OriginID, Seq: c.CallSeq, Part: part}
}

// NextGoferOrigin is c's fdesc.Call.NextGoferOrigin: false for a call the
// server makes for itself (seq 0), whose gofer writes the reply cache
// need not know.
func (c *Task) NextGoferOrigin(o *goferpb.Origin) bool {
	if c.CallSeq == 0 {
		return false
	}
	o.ClientId, o.Seq, o.Part = c.Kernel.OriginID, c.CallSeq, c.GoferParts
	c.GoferParts++
	return true
}

// WriteAhead is c's vfs.WriteAheadCall: its thread's plan of writes
// ahead, nil for a call whose written bytes are not its inputs or whose
// writes are not tracked.
func (c *Task) WriteAhead() *vfs.WriteAhead {
	if c == nil || c.DataNotInCall || c.SyncedWrites || c.PageWrite != 0 {
		return nil
	}
	return c.Ahead
}

// GoferWriteCached is c's vfs.CachedWriteCall.GoferWriteCached.
func (c *Task) GoferWriteCached(n int) { c.CachedWritten += n }

// GoferWrote is c's fdesc.Call.GoferWrote.
func (c *Task) GoferWrote(st *goferpb.Stat) {
	c.GoferSize = int64(st.Size)
	c.GoferStat = st
}

// Creds is c's fdesc.Call.Creds: the caller's credentials (AccessCreds
// when set), or root's for work the server does on its own behalf
// (restore: c without a thread).
func (c *Task) Creds() auth.Creds {
	if c == nil || c.Thread == nil {
		return auth.Creds{}
	}
	if c.AccessCreds != nil {
		return *c.AccessCreds
	}
	return c.ProcessCreds()
}

// ProcessCreds returns the calling process's credentials. It takes the
// kernel lock.
func (c *Task) ProcessCreds() auth.Creds {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	return c.Thread.Proc.Creds
}

// PID is c's fdesc.Call.PID: the calling process's PID, 0 for work the
// server does on its own behalf.
func (c *Task) PID() int32 {
	if c.Thread == nil {
		return 0
	}
	return c.Thread.Proc.PID
}

// RaiseSIGPIPE is c's fdesc.Call.RaiseSIGPIPE.
func (c *Task) RaiseSIGPIPE() { c.RaisedSIGPIPE = true }

// Block (c's fdesc.Call.Block) waits until ch is closed (nil: never) or
// timeout fires (nil: never). It returns ERESTARTSYS if the call is
// interrupted, the thread killed or the client freed, and ETIMEDOUT on
// timeout.
func (c *Task) Block(ch <-chan struct{}, timeout <-chan time.Time) error {
	select {
	case <-ch:
		return nil
	default:
	}
	if out := c.Kernel.Out; out != nil {
		out.Blocking()
	}
	c.Thread.Sleeping.Store(true)
	defer c.Thread.Sleeping.Store(false)
	select {
	case <-ch:
		return nil
	case <-c.Intr:
		return syserr.RestartSys
	case <-c.Dead:
		return syserr.RestartSys
	case <-c.Kernel.Done:
		return syserr.RestartSys
	case <-timeout:
		return unix.ETIMEDOUT
	}
}

// Effects returns the effects c commits with its reply, made on first
// use, with room for one write and one offset in the same allocation: a
// write(2) has those alone, and they then cost nothing more
// (TestPostedWriteServerAllocs).
func (c *Task) Effects() *CallEffects {
	if c.Eff == nil {
		r := &effectsWithRoom{}
		r.Writes, r.Offsets = r.writes[:0:1], r.offsets[:0:1]
		c.Eff = &r.CallEffects
	}
	return c.Eff
}

// effectsWithRoom is CallEffects with the arrays its first write and
// offset go in (Effects). Once made it is the call's: the tracker holds
// it with the CallEffects (Tracker.SetEffects), and an append past the
// room moves the slice out as any append does.
type effectsWithRoom struct {
	CallEffects
	writes  [1]GoferWrite
	offsets [1]OffChange
}

// RecordOffset is c's fdesc.OffsetRecorder: a nil c reports the value at
// once.
func (c *Task) RecordOffset(f *fdesc.File, ver uint64, off int64) {
	if c == nil {
		f.OffRep.Store(off)
		return
	}
	e := c.Effects()
	for i := range e.Offsets {
		if e.Offsets[i].File == f {
			e.Offsets[i].Ver, e.Offsets[i].Off = ver, off
			return
		}
	}
	e.Offsets = append(e.Offsets, OffChange{File: f, Ver: ver, Off: off})
}

// HandleOf is vfs.VFS.PinHandle for the duration of c (vfs.Caller): the
// pin is dropped when c's reply is made (UnpinAll), after the handler and
// the leases the reply carries.
func (c *Task) HandleOf(d *vfs.Dentry) (uint64, error) {
	h, file, err := c.pinHandle(d)
	if err == nil && file == nil {
		if c.Pinned == nil {
			c.Pinned = c.pinned1[:0]
		}
		c.Pinned = append(c.Pinned, d)
	}
	return h, err
}

// pinHandle returns a gofer handle of d: d's own if it has one, else
// that of a description of d c noted (file: valid while file is held),
// else one walked to. A handle of d's own is pinned (file nil): the
// caller unpins d.
func (c *Task) pinHandle(d *vfs.Dentry) (h uint64, file *fdesc.File, err error) {
	v := c.Kernel.VFS
	if h, ok := v.PinCachedHandle(d); ok {
		return h, nil, nil
	}
	if f, h := c.DirFileOf(d); h != 0 {
		return h, f, nil
	}
	h, err = v.PinHandle(d)
	return h, nil, err
}

// NoteDirFile keeps f, a reference to a description the call's path
// starts at, for the rest of c if it is a gofer directory's (else drops
// it), for HandleOf: a call relative to a directory's fd (rm -r's
// unlinkat of each entry) then reaches the directory through the
// description's handle, the same inode, when its dentry has none (a
// directory opened from a listing's handle).
func (c *Task) NoteDirFile(f *fdesc.File) {
	if _, ok := f.Impl.(*vfs.GoferDir); !ok || vfs.DentryOf(f) == nil {
		f.DecRef()
		return
	}
	if c.DirFiles == nil {
		c.DirFiles = c.dirFile1[:0]
	}
	c.DirFiles = append(c.DirFiles, f)
}

// DirFileOf returns a description c noted (NoteDirFile) of directory d
// and its gofer handle (0: none noted).
func (c *Task) DirFileOf(d *vfs.Dentry) (*fdesc.File, uint64) {
	for _, f := range c.DirFiles {
		if vfs.DentryOf(f) == d {
			return f, f.Impl.(*vfs.GoferDir).Handle
		}
	}
	return nil, 0
}

// ResolveScope implements vfs.ScopedCaller.
func (c *Task) ResolveScope() *vfs.ResolveScope {
	if c == nil {
		return nil
	}
	return c.Scope
}

// MaySearch checks search permission on directory d during a path walk
// (vfs.Caller). A nil c, the server's own walk, may search anything.
func (c *Task) MaySearch(d *vfs.Dentry) error {
	if c != nil && d.Kind != vfs.KindGofer {
		c.NotLeasable = true
	}
	c.Searched(d)
	if c == nil || c.Thread == nil {
		return nil
	}
	return c.MayAccess(d, auth.MayExec)
}

// maxWalkDentries bounds what a path lease's walk notes; a longer walk
// (symlinks upon symlinks) gets no lease.
const maxWalkDentries = 128

// Searched notes that c's walk searched directory d.
func (c *Task) Searched(d *vfs.Dentry) {
	if c == nil || c.PathView == nil {
		return
	}
	if len(c.PathView.Searched) >= maxWalkDentries {
		c.NotLeasable = true
		return
	}
	c.PathView.Searched = appendWalkNote(c.PathView.Searched, d)
}

// Found notes that c's walk looked up d (vfs.WalkObserver).
func (c *Task) Found(d *vfs.Dentry) {
	if c.PathView == nil {
		return
	}
	if len(c.PathView.Found) >= maxWalkDentries {
		c.NotLeasable = true
		return
	}
	c.PathView.Found = appendWalkNote(c.PathView.Found, d)
}

// walkNotesCap is the room a walk's first note makes for its notes: a
// walk of that many directories or names allocates once (growing from
// one, a walk of 5–8 allocated four times).
const walkNotesCap = 8

// appendWalkNote appends d to a walk's notes (PathView.Searched, Found).
func appendWalkNote(notes []*vfs.Dentry, d *vfs.Dentry) []*vfs.Dentry {
	if cap(notes) == 0 {
		notes = make([]*vfs.Dentry, 0, walkNotesCap)
	}
	return append(notes, d)
}

// Resent says the call may be one the client re-sent after a Restore (its
// seq is below the Restore's): a gofer mutation whose effect is already
// visible is then passed to the gofer anyway, whose reply cache answers
// it as the first execution did.
func (c *Task) Resent() bool { return c.CallSeq < c.Kernel.ResentBelow.Load() }

// TaskFromCall returns the kernel's call behind c, a Call the kernel gave
// a file operation (as gVisor's kernel.TaskFromContext): only the kernel
// and the server, which made the call, look behind the interface. nil for
// a nil c.
func TaskFromCall(c fdesc.Call) *Task {
	t, _ := c.(*Task)
	return t
}

// TID returns the caller's current TID.
func (c *Task) TID() int32 {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	return c.Thread.TID
}

// FDTable returns the caller's fd table (EBADF... once exited: ESRCH).
func (c *Task) FDTable() (*fdtable.Table, error) {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	if c.Thread.Proc.FDs == nil {
		return nil, unix.ESRCH
	}
	return c.Thread.Proc.FDs, nil
}

// UnshareFDTable gives the caller's process an fd table of its own, a
// copy of the one it shares with other processes (CLONE_FILES), and
// returns it (close_range's CLOSE_RANGE_UNSHARE of [first, last], with
// cloexec its CLOSE_RANGE_CLOEXEC). A table no other process uses is
// returned as it is. The table is the process's, shared by its threads:
// for one thread of several it fails, as unshare(2)'s CLONE_FILES
// (UnshareFDTableLocked) does.
//
// As Linux's __close_range, a range that goes to the end of the table
// (past its last fd, fdtable.Table.End) without cloexec copies only the
// fds below first, which it closes anyway; and as its dup_fd, a copy that
// does not fit under fs/nr_open is EMFILE. Linux copies the table when
// another task uses it, a thread of the caller's too: the check is made
// then, and from a thread of a multithreaded process, whose table is its
// process's here, the call then fails (ErrPerThread) rather than close
// or flag the fds of every thread.
func (c *Task) UnshareFDTable(first, last uint32, cloexec bool) (*fdtable.Table, error) {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	if p.FDs == nil {
		return nil, unix.ESRCH
	}
	maxFDs := fdtable.NrOpenMax
	if !cloexec && int64(last) >= int64(p.FDs.End()) {
		maxFDs = int(min(first, uint32(fdtable.NrOpenMax)))
	}
	if (p.FDs.Shared() || !k.ThreadGroupEmptyLocked(c.Thread)) && !p.FDs.CopyFitsBelow(maxFDs) {
		return nil, unix.EMFILE // Linux's dup_fd, fs/nr_open lowered below an open fd
	}
	if !k.ThreadGroupEmptyLocked(c.Thread) {
		// Linux gives the calling thread a copy of its own; here the
		// table is the process's (unshare(CLONE_FILES) likewise).
		return nil, ErrPerThread
	}
	if tab := p.FDs.UnshareBelow(maxFDs); tab != p.FDs {
		p.FDs = tab
		k.Trk.Changed(p) // the process's record names its table
	}
	return p.FDs, nil
}

// GetFile returns a reference to the caller's fd.
func (c *Task) GetFile(fd int32) (*fdesc.File, error) {
	tab, err := c.FDTable()
	if err != nil {
		return nil, err
	}
	f, _, err := tab.Get(fd)
	return f, err
}

// UnpinAll drops the pins c's handler took. c may be nil.
func (c *Task) UnpinAll() {
	if c == nil {
		return
	}
	for _, d := range c.Pinned {
		c.Kernel.VFS.Unpin(d)
	}
	c.Pinned, c.pinned1[0] = nil, nil
	for _, f := range c.DirFiles {
		f.DecRef()
	}
	c.DirFiles, c.dirFile1[0] = nil, nil
}

// Umask returns the caller's umask (022 without an fs context).
func (c *Task) Umask() uint32 {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	if fs := c.Thread.Proc.FS; fs != nil {
		return fs.Umask
	}
	return 022
}

// FSRoot returns the root chroot(2) gave the caller's fs context, nil
// for the VFS's root (vfs.RootedCaller: where the caller's absolute
// paths start and its ".." stops). A call of no process (a Restore's)
// has none. It takes Kernel.Mu only once some context was rooted.
func (c *Task) FSRoot() *vfs.Dentry {
	if c == nil || c.Thread == nil || !c.Kernel.Rooted.Load() {
		return nil
	}
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	if fs := c.Thread.Proc.FS; fs != nil {
		return fs.Root
	}
	return nil
}

// SetRestoreNS makes the walks of c, a Restore's context, those of
// mount namespace ns (a mount's, a cwd's).
func (c *Task) SetRestoreNS(ns uint64) {
	if c != nil {
		c.restoreNS, c.restoreNSSet = ns, true
	}
}

// MountNS returns the mount namespace of the caller's fs context
// (vfs.NamespacedCaller: the mounts its walks cross); a Restore's walks
// have SetRestoreNS's. It takes Kernel.Mu only once some context was in
// a namespace other than the first.
func (c *Task) MountNS() uint64 {
	if c == nil {
		return 0
	}
	if c.restoreNSSet {
		return c.restoreNS
	}
	if c.Thread == nil {
		return 0
	}
	if !c.Kernel.Namespaced.Load() {
		return 0
	}
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	if fs := c.Thread.Proc.FS; fs != nil {
		return fs.MntNS
	}
	return 0
}

// Root returns the caller's root directory: FSRoot, or the VFS's root.
func (c *Task) Root() *vfs.Dentry {
	if r := c.FSRoot(); r != nil {
		return r
	}
	return c.Kernel.VFS.Root
}

// Cwd returns the caller's working directory (the root without one).
func (c *Task) Cwd() *vfs.Dentry {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	if fs := c.Thread.Proc.FS; fs != nil && fs.Cwd != nil {
		return fs.Cwd
	}
	return c.Kernel.VFS.Root
}
