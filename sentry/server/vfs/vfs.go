package vfs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// maxSymlinkHops is Linux's MAXSYMLINKS.
const maxSymlinkHops = 40

// Kind says what backs a dentry.
type Kind int

const (
	KindGofer         Kind = iota // a file served by the gofer
	KindDevDir                    // /dev
	KindDev                       // /dev/null etc.
	KindDevTty                    // /dev/tty
	KindMqueueDir                 // /dev/mqueue (the client's POSIX message queues)
	KindLink                      // a synthesized symlink with a fixed target
	KindProcDir                   // /proc
	KindProcSelf                  // /proc/self, /proc/thread-self
	KindProcPid                   // /proc/<pid>
	KindProcCwd                   // /proc/<pid>/cwd (magic link)
	KindProcExe                   // /proc/<pid>/exe (magic link)
	KindProcFdDir                 // /proc/<pid>/fd
	KindProcFd                    // /proc/<pid>/fd/<n> (magic link)
	KindProcFile                  // a file of package procfs (meminfo, <pid>/stat, ...)
	KindProcSubdir                // a directory of package procfs (sys/, task/<tid>/)
	KindProcTaskDir               // /proc/<pid>/task
	KindProcFdInfoDir             // /proc/<pid>/fdinfo
	KindProcFdInfo                // /proc/<pid>/fdinfo/<n>
	KindDevPtmx                   // /dev/ptmx, /dev/pts/ptmx (the kernel's terminals)
	KindDevPtsDir                 // /dev/pts
	KindDevPts                    // /dev/pts/<n> (fd: the terminal's index)
	KindDevNode                   // a node of Hello.devices (FD: its index)
	KindProcRoot                  // /proc/<pid>/root (magic link)
	KindMqueue                    // /dev/mqueue/<name>: a POSIX message queue by name
)

// Dentry is a node of the client's file tree. Gofer dentries are cached
// in their parent's children; synthesized /proc dentries are made on each
// lookup.
type Dentry struct {
	// v, Kind, Mode (the S_IFMT bits and initial permissions), ino and
	// dev (a gofer file's device, its Stat's: with ino, the attribute
	// cache's key of a directory, goferclient.AttrCache.RemovedSince)
	// are immutable, and so are the synthetic fields below (Dev to TID:
	// set by the dentry's maker, the kernel's lookup, before it returns
	// it).
	v    *VFS
	Kind Kind
	Mode uint32
	ino  uint64
	dev  uint64
	Dev  DevKind
	PID  int32
	// FD is the fd of a KindProcFd or KindProcFdInfo, the terminal index of
	// a KindDevPts.
	FD int32
	// Link is the target of a KindLink. ProcName is the path of a
	// KindProcFile or KindProcSubdir in procfs table ProcScope, for thread
	// TID (procfs.Task) of process PID.
	Link      string
	ProcName  string
	ProcScope procfs.Scope
	TID       int32
	// Gen is the process a KindProcPid is the directory of, or a
	// dentry under it belongs to (the kernel's Process.Gen; 0: any): a
	// later process given the same PID is not it.
	Gen uint64

	// Protected by vfs.mu:
	// handle is the dentry's gofer handle (KindGofer), or 0 until a
	// lookup needs it (dentries of files this client created, and
	// dentries whose handle was evicted; see handles.go).
	handle uint64
	// pins counts the users of handle (PinHandle); eviction skips a
	// pinned dentry.
	pins int
	// lruPrev and lruNext link the dentries holding a handle into
	// vfs.lru; nil when not on it.
	lruPrev, lruNext *Dentry
	// fh is the file's gofer file handle (Handle.file_handle), once known.
	fh []byte
	// parent and name locate the dentry; the root is its own parent.
	parent *Dentry
	name   string
	// children caches looked-up children by name.
	children map[string]*Dentry
	// deleted says the file was unlinked or replaced by rename (set by
	// deleteLocked, but for a mount's root).
	deleted bool
	// kept is the handle of a released read-only description of the
	// file, for the next read-only open (kept.go); nil if none.
	kept *keptHandle
	// target caches a symlink's target once read.
	target     string
	haveTarget bool
	// listed is the file's attributes as a directory listing of this
	// client returned them (GetdentsRequest.plus) at the attribute
	// cache's seq listedSeq, trusted while no change of the file went
	// through the cache since (attrCache.validSince) and for attrTTL
	// after listedAt (StatDentry); nil if none.
	listed    *goferpb.Stat
	listedSeq uint64
	listedAt  time.Time
	// negative caches names found missing (a directory's), with the
	// attrCache.names count their lookup began at and when; see
	// LookupChild.
	negative map[string]negEntry
	// validAt is the attribute cache's removal seq (RemovalsSeen) the
	// call that found or made this name (a lookup, a listing, a create)
	// began at: after another client's removal of a name in its parent
	// directory (or in one the cache could not tell), the name is walked
	// to again (lookupName).
	validAt uint64
	// perm (the permission bits of the mode), uid and gid are the
	// attributes permission checks use (KindGofer; see AttrsOf), as
	// last read from or set through the gofer.
	perm, uid, gid uint32
	// overBound, for a gofer directory a listing found more names in
	// than its caller's bound (NoteTooBig), is at least how many more it
	// has, believed until overUntil: each name removed from it through
	// this namespace takes one off (removedNameLocked). 0: not known to
	// be over.
	overBound int
	overUntil time.Time
}

// Ino is d's inode number, as the file layer sees it (fdesc.Dentry).
func (d *Dentry) Ino() uint64 { return d.ino }

// GoferDev is the device of a gofer file's inode number, as the gofer
// reported it (0 for other dentries).
func (d *Dentry) GoferDev() uint64 { return d.dev }

// VFS is the namespace d belongs to.
func (d *Dentry) VFS() *VFS { return d.v }

// Owner is the owner of the descriptions opened on d (the kernel the vfs
// was given), nil for a dentry of no namespace.
func (d *Dentry) Owner() fdesc.Owner {
	if d.v == nil {
		return nil
	}
	return d.v.kern
}

// negEntry is a negative dentry: a name the gofer said is missing.
type negEntry struct {
	names uint64
	at    time.Time
}

// negativeTTL bounds how long a missing name is believed missing without
// asking the gofer again; maxNegative bounds the negative entries of one
// directory (beyond it they are all dropped).
const (
	NegativeTTL = time.Second
	maxNegative = 256
)

func (d *Dentry) IsDir() bool     { return d.Mode&unix.S_IFMT == unix.S_IFDIR }
func (d *Dentry) IsSymlink() bool { return d.Mode&unix.S_IFMT == unix.S_IFLNK }
func (d *Dentry) IsRegular() bool { return d.Mode&unix.S_IFMT == unix.S_IFREG }

// Caller is the system call a walk or a lookup runs for, as the vfs
// sees it (the kernel's call).
type Caller interface {
	fdesc.Call
	// HandleOf returns d's gofer handle, pinned until the call returns
	// (PinHandle).
	HandleOf(d *Dentry) (uint64, error)
	// MaySearch checks that the caller may search directory d.
	MaySearch(d *Dentry) error
}

// WalkObserver is a Caller that is told of every dentry a walk looks up
// (a symlink before it is followed): the path leases' keys.
type WalkObserver interface {
	Found(d *Dentry)
}

// Kernel is what the vfs asks of the kernel: the owner of the
// descriptions opened on its dentries, and the files it does not serve
// from the gofer: /dev and /proc, synthesized from the kernel's state
// (the remote sentry's client state), as gVisor's vfs leaves a file
// system's files to its implementation. Its methods are called with no
// lock of the vfs held but MntMu.
type Kernel interface {
	// Owner owns the descriptions opened on the vfs's dentries.
	fdesc.Owner
	// SynthLookup returns the child name of synthesized directory dir.
	SynthLookup(c Caller, dir *Dentry, name string) (*Dentry, error)
	// SynthReadlink returns the target of synthesized symlink d.
	SynthReadlink(c Caller, d *Dentry) (string, error)
	// MagicTarget returns what a /proc magic link d names (ok false for
	// an ordinary symlink).
	MagicTarget(c Caller, d *Dentry) (t *Dentry, ok bool, err error)
	// SynthStat returns the attributes of synthesized file d.
	SynthStat(d *Dentry) *goferpb.Stat
	// ProcOwner returns the euid and egid of process pid, which own its
	// /proc/<pid> (ok false: no such process).
	ProcOwner(pid int32) (uid, gid uint32, ok bool)
	// KillPriv clears the set-id bits of gofer file d (through handle h,
	// or d's own when h is 0; d may be nil) after call c wrote to it, if
	// the caller may not keep them; a are the file's attributes before
	// the write.
	KillPriv(c fdesc.Call, d *Dentry, h uint64, a auth.FileAttrs)
}

// VFS is one client's mount namespace: the gofer's tree with /dev and
// /proc synthesized over it.
type VFS struct {
	// appendLocks order the O_APPEND writes of the client's threads and
	// processes to one file (AppendLock). Each a leaf but for the gofer
	// calls made under it.
	appendLocks [appendStripes]sync.Mutex
	// kern serves the synthesized files (/dev and /proc) from the
	// kernel's state, and owns the descriptions opened on the dentries.
	// Immutable after newVFS.
	kern Kernel
	// ctx scopes the gofer RPCs (the client's); gofer, releases, attrs
	// (the server's attribute cache), clientID and log are the client's.
	// All immutable after newVFS.
	ctx      context.Context
	gofer    goferpb.GoferClient
	releases *goferclient.ReleaseQueue
	// deadlines bound the gofer RPCs (RPCCtx). Immutable after New.
	deadlines *goferclient.CallDeadlines
	attrs     *goferclient.AttrCache
	clientID  string
	log       hclog.Logger
	// Root, DevDir and ProcDir are immutable after New, and so is RootDev,
	// the root's device number (for /proc/<pid>/mountinfo).
	Root, DevDir, ProcDir *Dentry
	RootDev               uint64

	// mu protects the dentry tree (see dentry) and the handle cache. It
	// is a leaf lock, never held across a gofer RPC.
	mu sync.Mutex
	// lru is the sentinel of the list of dentries holding a gofer handle,
	// most recently used first; cachedHandles is its length. The root's
	// handle is not on it. Protected by mu.
	lru           Dentry
	cachedHandles int
	// keptList holds the dentries with a kept handle, oldest first
	// (kept.go). Protected by mu. keptReused counts the opens that took
	// a kept handle.
	keptList   []*Dentry
	keptReused atomic.Uint64

	// shmMu serializes making /dev/shm's directory; it is held across
	// gofer RPCs and taken before mu. shm is /dev/shm's dentry (nil
	// until first looked up) and shmParent the gofer handle of the
	// directory holding it (shm.go). Protected by shmMu.
	shmMu     sync.Mutex
	shm       *Dentry
	shmParent uint64
	// shmKeep are the handles of the directories walked through to
	// shmParent (mount.go: Graft.keep). Protected by shmMu.
	shmKeep []uint64

	// Mounts is the mount table (immutable pointer; it has its own
	// lock). MntMu serializes mount, umount and their replay; it is held
	// across gofer RPCs and taken before shmMu and mu. covers maps a
	// covered dentry to the mount on top of it, roots a mount's root
	// dentry to it (one Graft per namespace that has the mount), and
	// detached holds the lazily unmounted mounts whose
	// directories go with the client (mount.go); all protected by mu.
	// nmounts counts the grafted mounts (atomic, so that lookups skip
	// the maps when there are none).
	Mounts *mount.Table
	MntMu  sync.Mutex
	covers map[*Dentry][]*Graft
	roots  map[*Dentry][]*Graft
	// mqueue is /dev/mqueue's dentry while the mqueue file system is
	// mounted there (mount.go: IsMqueueMount); protected by mu.
	mqueue   *Dentry
	detached []*Graft
	nmounts  atomic.Int32
}

// Config is what a vfs is given of its client.
type Config struct {
	// ctx scopes the gofer RPCs; gofer is the client's gofer connection,
	// releases its queue of handles to release, attrs the server's
	// attribute cache, clientID and log the client's.
	Ctx      context.Context
	Gofer    goferpb.GoferClient
	Releases *goferclient.ReleaseQueue
	Attrs    *goferclient.AttrCache
	ClientID string
	Log      hclog.Logger
	// kernel serves the synthesized files and owns the descriptions.
	Kernel Kernel
}

// New attaches to the gofer's root. It returns the gofer's binding key
// for the client's handles (package handlebind).
func New(cfg Config) (*VFS, []byte, error) {
	ctx, cancel := context.WithTimeout(cfg.Ctx, 30*time.Second)
	defer cancel()
	r, err := cfg.Gofer.Attach(ctx, &goferpb.AttachRequest{})
	if err == nil && r.Errno == 0 && (r.Root == nil || r.Stat == nil) {
		err = fmt.Errorf("attach reply without root")
	}
	if err := syserr.FromGofer("attach", r.GetErrno(), err); err != nil {
		return nil, nil, err
	}
	v := &VFS{kern: cfg.Kernel, ctx: cfg.Ctx, gofer: cfg.Gofer, releases: cfg.Releases, attrs: cfg.Attrs, clientID: cfg.ClientID, log: cfg.Log,
		RootDev: r.Stat.Dev, Mounts: mount.NewTable(r.Stat.Dev, SynthDev),
		deadlines: goferclient.NewCallDeadlines(cfg.Ctx, rpcTimeout, time.Second)}
	v.Root = &Dentry{v: v, Kind: KindGofer, Mode: r.Stat.Mode, ino: r.Stat.Ino, dev: r.Stat.Dev, handle: r.Root.Id, fh: r.Root.FileHandle,
		perm: r.Stat.Mode & 07777, uid: r.Stat.Uid, gid: r.Stat.Gid}
	v.Root.parent = v.Root
	v.DevDir = &Dentry{v: v, Kind: KindDevDir, Mode: unix.S_IFDIR | 0755, ino: SynthIno(1, 0), parent: v.Root, name: "dev"}
	v.ProcDir = &Dentry{v: v, Kind: KindProcDir, Mode: unix.S_IFDIR | 0555, ino: SynthIno(2, 0), parent: v.Root, name: "proc"}
	return v, r.BindingKey, nil
}

// NewSynthDentry makes the dentry of a synthesized file (kind, mode, ino)
// named name in directory parent, for the lookups of the files the kernel
// synthesizes (vfsSynth).
func NewSynthDentry(parent *Dentry, name string, kind Kind, mode uint32, ino uint64) *Dentry {
	return &Dentry{v: parent.v, Kind: kind, Mode: mode, ino: ino, parent: parent, name: name}
}

// SynthName is a synthesized dentry's name in its directory (set by
// NewSynthDentry: synthesized dentries are never renamed, so it needs no
// lock): a KindMqueue's queue name.
func (d *Dentry) SynthName() string { return d.name }

// NewDetachedDentry makes the dentry of a gofer file that has no name
// left (known by its file handle fh and attributes st; name is its last
// one): a restored description of a file unlinked or moved while open.
func (v *VFS) NewDetachedDentry(st *goferpb.Stat, fh []byte, name string) *Dentry {
	return &Dentry{v: v, Kind: KindGofer, Mode: st.Mode, ino: st.Ino, dev: st.Dev, fh: fh, parent: v.Root, name: name, deleted: true}
}

func SynthIno(kind, n int) uint64 { return uint64(kind)<<32 | uint64(uint32(n)) | 1<<48 }

// Gofer is the client's gofer connection.
func (v *VFS) Gofer() goferpb.GoferClient { return v.gofer }

// Releases is the client's queue of gofer handles to release.
func (v *VFS) Releases() *goferclient.ReleaseQueue { return v.releases }

// rpcTimeout bounds a gofer RPC, its re-sends across gofer restarts
// included.
const rpcTimeout = 60 * time.Second

// RPCCtx returns the context for a gofer RPC: it ends rpcTimeout (to a
// second more) after now, or with the client; the calls of a second
// share it (goferclient.CallDeadlines: no timer of their own). Its
// cancel does nothing.
func (v *VFS) RPCCtx() (context.Context, context.CancelFunc) {
	return v.deadlines.Context(), func() {}
}

// ReleaseAll releases every dentry handle and the handles queued for
// release (client teardown).
func (v *VFS) ReleaseAll() {
	v.mu.Lock()
	hs := append(v.cachedHandleIDsLocked(), v.keptHandleIDsLocked()...)
	v.mu.Unlock()
	v.releases.FlushWith(hs)
}

// walkOne walks name from directory handle dir.
func (v *VFS) walkOne(dir uint64, name string) (*goferpb.WalkedFile, error) {
	wf, _, _, err := v.walkOneOpen(dir, name, nil)
	return wf, err
}

// walkOneOpen is walkOne; with open set, the walk opens the file too
// (with open.Flags), and opened says whether it did; path is then the
// file's unopened handle, if the gofer gave one (WalkReply.path).
func (v *VFS) walkOneOpen(dir uint64, name string, open *PreOpened) (wf *goferpb.WalkedFile, opened bool, path uint64, err error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	req := &goferpb.WalkRequest{Dir: dir, Names: [][]byte{[]byte(name)}}
	if open != nil {
		req.Open, req.OpenFlags, req.PathHandle = true, open.Flags, true
	}
	r, err := v.gofer.Walk(ctx, req)
	if err != nil {
		return nil, false, 0, syserr.FromGofer("walk", 0, err)
	}
	if len(r.Files) > 0 && r.Files[0].GetHandle() != nil && r.Files[0].Stat != nil {
		// Release anything beyond what we asked for.
		var extra []uint64
		for _, f := range r.Files[1:] {
			if f.GetHandle() != nil {
				extra = append(extra, f.Handle.Id)
			}
		}
		if len(extra) > 0 {
			v.releases.Release(extra)
		}
		opened := open != nil && r.Errno == 0 && r.OpenErrno == 0 && len(r.Files) == 1
		if p := r.GetPath().GetId(); p != 0 && !opened {
			v.releases.Release([]uint64{p})
		} else if opened {
			path = p
		}
		return r.Files[0], opened, path, nil
	}
	for _, f := range r.Files {
		if f.GetHandle() != nil {
			v.releases.Release([]uint64{f.Handle.Id})
		}
	}
	if p := r.GetPath().GetId(); p != 0 {
		v.releases.Release([]uint64{p})
	}
	if r.Errno == 0 {
		return nil, false, 0, fmt.Errorf("walk %q: empty reply: %w", name, unix.ENOENT)
	}
	return nil, false, 0, syserr.FromGofer("walk "+name, r.Errno, nil)
}

// PreOpened is a regular file that a lookup made for an open opened with
// its gofer Walk (ResolveForOpen, LookupChildForOpen): one Walk, where a
// lookup and then the open's walk-open were two. The open uses it
// (TakePreOpened) if it opens that dentry with the same flags; the
// caller releases it otherwise (ReleasePreOpened). Used by one call's
// goroutine.
type PreOpened struct {
	// Flags are the gofer open flags (OpenRegular's), set by the caller.
	Flags uint32
	// D is the dentry opened, H its opened handle (0: none), FH its
	// file handle, and Confirmed when the walk that opened it began;
	// set by the lookup.
	D         *Dentry
	H         uint64
	FH        []byte
	Confirmed Confirmed
}

// TakePreOpened returns p's handle if it opened d with flags (then p
// holds it no more).
func (v *VFS) TakePreOpened(p *PreOpened, d *Dentry, flags uint32) (uint64, []byte, bool) {
	if p == nil || p.H == 0 || p.D != d || p.Flags != flags {
		return 0, nil, false
	}
	h, fh := p.H, p.FH
	p.H, p.FH, p.D = 0, nil, nil
	return h, fh, true
}

// ReleasePreOpened releases p's handle if the open did not take it.
func (v *VFS) ReleasePreOpened(p *PreOpened) {
	if p != nil && p.H != 0 {
		v.releases.Release([]uint64{p.H})
		p.H, p.FH, p.D = 0, nil, nil
	}
}

// FileHandleOf returns d's gofer file handle, if known.
func (v *VFS) FileHandleOf(d *Dentry) []byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	return d.fh
}

// FreshHandle returns a new gofer handle for d (each open file
// description has its own), which the caller owns, and its file handle.
func (v *VFS) FreshHandle(d *Dentry) (uint64, *goferpb.Stat, []byte, error) {
	v.mu.Lock()
	parent, name, deleted := d.parent, d.name, d.deleted
	v.mu.Unlock()
	if deleted {
		return 0, nil, nil, unix.ENOENT
	}
	if d == v.Root {
		ctx, cancel := v.RPCCtx()
		defer cancel()
		r, err := v.gofer.Attach(ctx, &goferpb.AttachRequest{})
		if err := syserr.FromGofer("attach", r.GetErrno(), err); err != nil {
			return 0, nil, nil, err
		}
		if r.Root == nil || r.Stat == nil {
			return 0, nil, nil, unix.EIO
		}
		return r.Root.Id, r.Stat, r.Root.FileHandle, nil
	}
	var wf *goferpb.WalkedFile
	var err error
	vm := v.MountRoot(d)
	if vm != nil && vm.Src != nil {
		// A bind mount's root: a handle of its source.
		return v.FreshHandle(vm.Src)
	} else if vm != nil {
		// A mount's root: its gofer directory is not under its parent.
		wf, err = v.walkOne(vm.backingParent, vm.backing)
	} else if parent == v.DevDir {
		// /dev/shm: its gofer directory's parent is not in the tree.
		v.shmMu.Lock()
		ph := v.shmParent
		v.shmMu.Unlock()
		if ph == 0 {
			return 0, nil, nil, unix.ENOENT
		}
		wf, err = v.walkOne(ph, shmDirName(v.clientID))
	} else if wf = v.walkViaParent(parent, name); wf == nil {
		var ph uint64
		if ph, err = v.PinHandle(parent); err != nil {
			return 0, nil, nil, err
		}
		wf, err = v.walkOne(ph, name)
		v.Unpin(parent)
	}
	if err != nil {
		return 0, nil, nil, err
	}
	if wf.Stat.Ino != d.ino || wf.Stat.Mode&unix.S_IFMT != d.Mode&unix.S_IFMT {
		v.releases.Release([]uint64{wf.Handle.Id})
		if vm == nil {
			v.forgetReplaced(parent, name, d)
		}
		return 0, nil, nil, fmt.Errorf("open %q: %w", name, ErrReplaced)
	}
	v.mu.Lock()
	if d.fh == nil {
		d.fh = wf.Handle.FileHandle
	}
	v.mu.Unlock()
	v.NoteAttrs(d, wf.Stat)
	return wf.Handle.Id, wf.Stat, wf.Handle.FileHandle, nil
}

// walkViaParent walks to name in parent in one Walk from parent's own
// parent when parent has no handle (a directory known from a listing):
// the Walk's first handle becomes parent's (as PinHandle would make it)
// and its second is returned, which the caller owns. It returns nil when
// this does not apply or fails; the caller then walks as usual.
func (v *VFS) walkViaParent(parent *Dentry, name string) *goferpb.WalkedFile {
	v.mu.Lock()
	gp, pname, has, pdeleted := parent.parent, parent.name, parent.handle != 0, parent.deleted
	v.mu.Unlock()
	if has || pdeleted || parent == v.Root || parent.Kind != KindGofer || gp == nil || gp == v.DevDir || gp.Kind != KindGofer {
		return nil
	}
	v.mu.Lock()
	gh := gp.handle
	if gh != 0 {
		gp.pins++
	}
	v.mu.Unlock()
	if gh == 0 {
		return nil
	}
	ctx, cancel := v.RPCCtx()
	r, err := v.gofer.Walk(ctx, &goferpb.WalkRequest{Dir: gh, Names: [][]byte{[]byte(pname), []byte(name)}})
	cancel()
	v.Unpin(gp)
	if err != nil {
		return nil
	}
	var ids []uint64
	for _, f := range r.Files {
		if f.GetHandle().GetId() != 0 {
			ids = append(ids, f.Handle.Id)
		}
	}
	if r.Errno != 0 || len(r.Files) != 2 || len(ids) != 2 || r.Files[0].Stat == nil || r.Files[1].Stat == nil ||
		r.Files[0].Stat.Ino != parent.ino || r.Files[0].Stat.Mode&unix.S_IFMT != unix.S_IFDIR {
		v.releases.Release(ids)
		return nil
	}
	v.mu.Lock()
	var evicted []uint64
	if parent.handle != 0 || parent.deleted {
		evicted = []uint64{ids[0]} // another lookup got there first
	} else {
		parent.handle = ids[0]
		if parent.fh == nil {
			parent.fh = r.Files[0].Handle.FileHandle
		}
		v.lruPushLocked(parent)
		evicted = v.evictLocked()
	}
	v.mu.Unlock()
	v.releases.Release(evicted)
	return r.Files[1]
}

// OpenRegular returns a new gofer handle for regular file d opened with
// gofer open flags, which the caller owns, and its file handle. A file
// still reachable by its name is walked to and opened in one Walk from
// its parent's handle; the root, /dev/shm's entries and unlinked files
// take a Walk (or Reopen) and an Open. origin (nil: none) makes an O_TRUNC
// open's truncation once (WalkRequest.origin, OpenRequest.origin).
func (v *VFS) OpenRegular(d *Dentry, flags uint32, origin *goferpb.Origin) (uint64, []byte, error) {
	v.mu.Lock()
	parent, name, deleted := d.parent, d.name, d.deleted
	v.mu.Unlock()
	if deleted || d == v.Root || parent == v.DevDir || parent == nil {
		h, fh, err := v.HandleForOpen(d)
		if err != nil {
			return 0, nil, err
		}
		ctx, cancel := v.RPCCtx()
		defer cancel()
		r, err := v.gofer.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: flags, Origin: origin})
		if err := syserr.FromGofer("open", r.GetErrno(), err); err != nil {
			v.releases.Release([]uint64{h})
			return 0, nil, err
		}
		return h, fh, nil
	}
	ph, err := v.PinHandle(parent)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := v.RPCCtx()
	r, err := v.gofer.Walk(ctx, &goferpb.WalkRequest{Dir: ph, Names: [][]byte{[]byte(name)}, Open: true, OpenFlags: flags, ExpectIno: d.ino, Origin: origin})
	cancel()
	v.Unpin(parent)
	if err != nil {
		return 0, nil, syserr.FromGofer("walk-open "+name, 0, err)
	}
	var ids []uint64
	for _, f := range r.Files {
		if f.GetHandle().GetId() != 0 {
			ids = append(ids, f.Handle.Id)
		}
	}
	if r.Errno != 0 || len(r.Files) != 1 || len(ids) != 1 || r.Files[0].Stat == nil {
		v.releases.Release(ids)
		return 0, nil, syserr.FromGofer("walk-open "+name, errnoOr32(r.Errno, unix.ENOENT), nil)
	}
	wf := r.Files[0]
	if r.OpenErrno == int32(unix.ESTALE) || wf.Stat.Ino != d.ino || wf.Stat.Mode&unix.S_IFMT != d.Mode&unix.S_IFMT {
		v.releases.Release(ids)
		v.forgetReplaced(parent, name, d)
		return 0, nil, fmt.Errorf("walk-open %q: %w", name, ErrReplaced)
	}
	if err := syserr.FromGofer("walk-open "+name, r.OpenErrno, nil); err != nil {
		v.releases.Release(ids)
		return 0, nil, err
	}
	v.mu.Lock()
	if d.fh == nil {
		d.fh = wf.Handle.FileHandle
	}
	v.mu.Unlock()
	v.NoteAttrs(d, wf.Stat)
	return wf.Handle.Id, wf.Handle.FileHandle, nil
}

func errnoOr32(e int32, def unix.Errno) int32 {
	if e != 0 {
		return e
	}
	return int32(def)
}

// LookupChild returns dir's child name (not "." or ".."), or the root of
// the mount on top of it.
func (v *VFS) LookupChild(c Caller, dir *Dentry, name string) (*Dentry, error) {
	return v.LookupChildForOpen(c, dir, name, nil)
}

// LookupChildForOpen is LookupChild for an open of the child with gofer
// open flags open.Flags: a lookup that walks the gofer opens it too
// (PreOpened; nil: none).
func (v *VFS) LookupChildForOpen(c Caller, dir *Dentry, name string, open *PreOpened) (*Dentry, error) {
	d, err := v.lookupName(c, dir, name, open)
	if err != nil {
		return nil, err
	}
	return v.crossMounts(NSOf(c), d), nil
}

// lookupName returns dir's child name (not "." or "..") itself. With
// open set, a lookup that walks the gofer opens the file too, and open
// holds it if it is a regular file (PreOpened).
func (v *VFS) lookupName(c Caller, dir *Dentry, name string, open *PreOpened) (*Dentry, error) {
	if !dir.IsDir() {
		return nil, unix.ENOTDIR
	}
	if len(name) > 255 {
		return nil, unix.ENAMETOOLONG
	}
	if dir.Kind != KindGofer {
		if dir == v.DevDir && name == "mqueue" {
			if d := v.MqueueDentry(NSOf(c)); d != nil {
				return d, nil
			}
		}
		return v.kern.SynthLookup(c, dir, name)
	}
	if dir == v.Root {
		switch name {
		case "dev":
			return v.DevDir, nil
		case "proc":
			return v.ProcDir, nil
		}
	}
	// A name found missing stays missing, without a Walk, until a call
	// of this server that may make a name in its directory (any
	// client's; in any directory when the dentry holds no handle the
	// attribute cache knows) completes, or negativeTTL passes (for other
	// parties: the bound of docs/ARCHITECTURE.md's coherence rule).
	// A name found present stays trusted until another client removes
	// a name in its directory (RemovedSince).
	names := v.attrs.NamesMade()
	seen := v.attrs.RemovalSeq()
	v.mu.Lock()
	stale := dir.children[name]
	if stale != nil && !v.attrs.RemovedSince(v.ctx, dir.dev, dir.ino, stale.validAt) {
		v.mu.Unlock()
		return stale, nil
	}
	if n, ok := dir.negative[name]; ok {
		if v.attrs.NamesMadeIn(dir.handle) <= n.names && v.attrs.Clock().Sub(n.at) < NegativeTTL {
			v.mu.Unlock()
			return nil, fmt.Errorf("%q (negative dentry): %w", name, unix.ENOENT)
		}
		delete(dir.negative, name)
	}
	deleted := dir.deleted
	v.mu.Unlock()
	if deleted {
		return nil, unix.ENOENT
	}
	dh, err := c.HandleOf(dir)
	if err != nil {
		return nil, err
	}
	if open != nil && open.H != 0 {
		open = nil // holds one already (a symlink's target looked up after)
	}
	if open != nil {
		open.Confirmed = v.ConfirmStart()
	}
	wf, opened, path, err := v.walkOneOpen(dh, name, open)
	if syserr.ErrnoOf(err) == unix.ENOENT {
		v.mu.Lock()
		v.forgetStaleLocked(dir, name, stale)
		if dir.children[name] == nil {
			if dir.negative == nil || len(dir.negative) >= maxNegative {
				dir.negative = make(map[string]negEntry)
			}
			dir.negative[name] = negEntry{names: names, at: v.attrs.Clock()}
		}
		v.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	h := wf.Handle.Id
	if opened {
		// An opened handle is the open's, not the dentry's (the gofer
		// counts it open until released): the dentry keeps the unopened
		// one (WalkReply.path), or none.
		h = path
		if wf.Stat.Mode&unix.S_IFMT != unix.S_IFREG {
			v.releases.Release([]uint64{wf.Handle.Id})
			opened = false
		}
	}
	d := v.InsertChild(dir, name, h, wf.Handle.FileHandle, wf.Stat, seen)
	if opened {
		v.ReleasePreOpened(open) // none but in a malformed chain of links
		open.D, open.H, open.FH = d, wf.Handle.Id, wf.Handle.FileHandle
	}
	return d, nil
}

// RemovalsSeen is the attribute cache's removal seq now
// (goferclient.AttrCache.RemovalSeq): a caller that makes or finds names
// through the gofer reads it before its call and gives it to InsertChild
// or NoteListing, so that the dentries it caches are trusted until
// another client removes a name in their directory after that
// (Dentry.validAt).
func (v *VFS) RemovalsSeen() uint64 {
	return v.attrs.RemovalSeq()
}

// forgetStaleLocked drops dir's child name if it is still stale, the
// dentry a lookup walked to again and found gone (another client removed
// it). Precondition: v.mu.
func (v *VFS) forgetStaleLocked(dir *Dentry, name string, stale *Dentry) {
	if stale != nil && dir.children[name] == stale {
		v.deleteLocked(stale)
		delete(dir.children, name)
		dir.removedNameLocked()
	}
}

// InsertChild caches a child made from a gofer handle (0 for none) and
// stat, unless another lookup got there first (then the new handle is
// released). seen is RemovalsSeen as read before the gofer call that
// made or found the name: the dentry is valid until another client
// removes a name in dir after that (Dentry.validAt).
func (v *VFS) InsertChild(dir *Dentry, name string, h uint64, fh []byte, st *goferpb.Stat, seen uint64) *Dentry {
	v.mu.Lock()
	if ch := dir.children[name]; ch != nil && ch.ino == st.Ino {
		ch.perm, ch.uid, ch.gid = st.Mode&07777, st.Uid, st.Gid
		ch.validAt = max(ch.validAt, seen)
		v.mu.Unlock()
		if h != 0 {
			v.releases.Release([]uint64{h})
		}
		return ch
	}
	d := &Dentry{v: v, Kind: KindGofer, Mode: st.Mode, ino: st.Ino, dev: st.Dev, handle: h, fh: fh, parent: dir, name: name,
		perm: st.Mode & 07777, uid: st.Uid, gid: st.Gid, validAt: seen}
	evicted := v.cacheChildHandleLocked(d)
	if old := dir.children[name]; old != nil {
		v.deleteLocked(old)
	}
	if dir.children == nil {
		dir.children = make(map[string]*Dentry)
	}
	dir.children[name] = d
	v.mu.Unlock()
	if len(evicted) > 0 {
		v.releases.Release(evicted)
	}
	return d
}

// ErrReplaced is the error of FreshHandle and OpenRegular when a
// dentry's name, walked again, refers to another file: another client of
// the gofer's tree (or the host) put one there since the dentry was
// cached. The stale dentry is dropped from the tree first, so that the
// caller may resolve the path again and open what it names now, as
// Linux looks a name up again when a cached dentry fails its
// revalidation; a caller that does not is answered ENOENT.
var ErrReplaced error = replacedError{}

type replacedError struct{}

func (replacedError) Error() string { return "the name refers to another file" }
func (replacedError) Unwrap() error { return unix.ENOENT }

// forgetReplaced drops d, whose name in parent refers to another file
// now, from the tree if it is still parent's child of that name.
func (v *VFS) forgetReplaced(parent *Dentry, name string, d *Dentry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if parent != nil && parent.children[name] == d {
		v.deleteLocked(d)
		delete(parent.children, name)
	}
}

// Forget drops dir's cached child name (after unlink, or a change this
// server did not make).
func (v *VFS) Forget(dir *Dentry, name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	dir.removedNameLocked()
	if ch := dir.children[name]; ch != nil {
		v.deleteLocked(ch)
		delete(dir.children, name)
	}
}

// Moved updates the cache after a rename of olddir/oldname to
// newdir/newname (exchange swaps them).
func (v *VFS) Moved(olddir *Dentry, oldname string, newdir *Dentry, newname string, exchange bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	od := olddir.children[oldname]
	nd := newdir.children[newname]
	if !exchange {
		olddir.removedNameLocked()
	}
	delete(olddir.children, oldname)
	delete(newdir.children, newname)
	if newdir.children == nil {
		newdir.children = make(map[string]*Dentry)
	}
	if od != nil {
		od.parent, od.name = newdir, newname
		newdir.children[newname] = od
	}
	if nd != nil {
		if exchange {
			if olddir.children == nil {
				olddir.children = make(map[string]*Dentry)
			}
			nd.parent, nd.name = olddir, oldname
			olddir.children[oldname] = nd
		} else {
			v.deleteLocked(nd)
		}
	}
}

func (v *VFS) ParentOf(d *Dentry) *Dentry {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.parent == nil {
		return v.Root
	}
	return d.parent
}

// NameOf returns d's name in its parent (its last one if it was
// unlinked).
func (v *VFS) NameOf(d *Dentry) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return d.name
}

// CreateFirst says an open with O_CREAT of dir's child name may ask the
// gofer to create it before any lookup (and look it up only if it
// exists): dir is a gofer directory and the cache holds no dentry of
// name, so no mount covers it either (a mount point's dentry stays
// cached) and the lookup would cost a Walk (or, for a negative entry
// still believed, nothing, and the creation comes next anyway).
func (v *VFS) CreateFirst(dir *Dentry, name string) bool {
	if dir.Kind != KindGofer || !dir.IsDir() || dir == v.Root && (name == "dev" || name == "proc") {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return !dir.deleted && dir.children[name] == nil
}

// CachedChild returns dir's cached child name, nil if none.
func (v *VFS) CachedChild(dir *Dentry, name string) *Dentry {
	v.mu.Lock()
	defer v.mu.Unlock()
	return dir.children[name]
}

// HasMounts says the tree has grafted mounts (mount.go).
func (v *VFS) HasMounts() bool { return v.nmounts.Load() != 0 }

// PathOf returns d's absolute path, and whether it is still reachable.
func (v *VFS) PathOf(d *Dentry) (string, bool) {
	p, _, ok := v.PathUnder(v.Root, d)
	return p, ok
}

// PathFrom is getcwd's path of d for a caller whose root is root
// (chroot(2)): its path from root, or, when d is not under root, its
// absolute path after "(unreachable)", as Linux's getcwd; ok false when
// d or a directory above it was removed.
func (v *VFS) PathFrom(root, d *Dentry) (string, bool) {
	p, under, ok := v.PathUnder(root, d)
	if !under {
		p = "(unreachable)" + p
	}
	return p, ok
}

// PathUnder returns d's path from root ("/" and the names below it), as
// Linux's d_path with root as the task's root: under false when the walk
// up from d met the sandbox's root, not root, and the path is then d's
// absolute path. ok false when d or a directory above it was removed.
func (v *VFS) PathUnder(root, d *Dentry) (p string, under, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	// The names from d up, kept on the stack for paths of up to
	// pathDepthOnStack levels, and the path's length: the path is built
	// in one allocation (a path lease of every path call names its cwd).
	var names [pathDepthOnStack]string
	parts := names[:0]
	n := 0
	ok = true
	for i := 0; d != root && d != v.Root && d != nil && i < 4096; i++ {
		if d.deleted {
			ok = false
		}
		parts = append(parts, d.name)
		n += 1 + len(d.name)
		d = d.parent
	}
	under = d == root || root == nil
	if len(parts) == 0 {
		return "/", under, ok
	}
	var b strings.Builder
	b.Grow(n)
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String(), under, ok
}

// pathDepthOnStack is how deep a path PathOf names without allocating
// for the list of its names.
const pathDepthOnStack = 16

// AncestorsOf returns d and the directories above it up to the root, as
// PathOf names them (a path lease of getcwd's answer holds each).
func (v *VFS) AncestorsOf(d *Dentry) []*Dentry {
	v.mu.Lock()
	defer v.mu.Unlock()
	var ds []*Dentry
	for n := 0; d != nil && n < 4096; n++ {
		ds = append(ds, d)
		if d == v.Root {
			break
		}
		d = d.parent
	}
	return ds
}

// Readlink returns symlink d's target.
func (v *VFS) Readlink(c Caller, d *Dentry) (string, error) {
	switch d.Kind {
	case KindGofer:
	case KindLink:
		return d.Link, nil
	default:
		return v.kern.SynthReadlink(c, d)
	}
	if !d.IsSymlink() {
		return "", unix.EINVAL
	}
	v.mu.Lock()
	if d.haveTarget {
		t := d.target
		v.mu.Unlock()
		return t, nil
	}
	v.mu.Unlock()
	h, err := c.HandleOf(d)
	if err != nil {
		return "", err
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.Readlink(ctx, &goferpb.ReadlinkRequest{Handle: h})
	if err := syserr.FromGofer("readlink", r.GetErrno(), err); err != nil {
		return "", err
	}
	v.mu.Lock()
	d.target, d.haveTarget = string(r.Target), true
	v.mu.Unlock()
	return string(r.Target), nil
}

// StatDentry returns d's attributes.
func (v *VFS) StatDentry(c fdesc.Call, d *Dentry) (*goferpb.Stat, error) {
	if d.Kind != KindGofer {
		return v.kern.SynthStat(d), nil
	}
	if st := v.listedStat(d); st != nil {
		return st, nil
	}
	var h uint64
	var err error
	if wc, ok := c.(Caller); ok {
		h, err = wc.HandleOf(d)
	} else {
		h, err = v.PinHandle(d)
		defer v.Unpin(d)
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.Stat(ctx, &goferpb.StatRequest{Handle: h})
	if err == nil && r.Errno == 0 && r.Stat == nil {
		return nil, unix.EIO
	}
	if err := syserr.FromGofer("stat", r.GetErrno(), err); err != nil {
		return nil, err
	}
	v.NoteAttrs(d, r.Stat)
	return r.Stat, nil
}

// ListedStatShared is listedStat without the copy: the listing's own
// attributes, which the caller must not change (the path leases'
// answers for a listing's entries, pathlease.go, marshal them: a copy
// was an allocation an entry).
func (v *VFS) ListedStatShared(d *Dentry) *goferpb.Stat { return v.listedStatShared(d) }

// listedStat returns a copy of d's attributes from a directory listing
// if no change of d's file went through the server since and they are
// fresh (see dentry.listed), else nil.
func (v *VFS) listedStat(d *Dentry) *goferpb.Stat {
	if st := v.listedStatShared(d); st != nil {
		return proto.Clone(st).(*goferpb.Stat)
	}
	return nil
}

// listedStatShared is listedStat's: d.listed itself, which NoteListing
// replaces and nothing changes in place.
func (v *VFS) listedStatShared(d *Dentry) *goferpb.Stat {
	a := v.attrs
	now := a.Clock()
	v.mu.Lock()
	st, seq, at, deleted := d.listed, d.listedSeq, d.listedAt, d.deleted
	v.mu.Unlock()
	if st == nil || deleted || now.Sub(at) >= goferclient.AttrTTL || !a.ValidSince(st, seq) {
		v.mu.Lock()
		if d.listed == st {
			d.listed = nil
		}
		v.mu.Unlock()
		return nil
	}
	return st
}

// NoteTooBig notes that a listing of gofer directory dir found more
// names than its caller's bound, over more at least: TooBig says so
// for life, or until over names of it are removed through this
// namespace (its unlinks, its renames out of it, names found gone), as
// the caller's listings then may fit again. Names removed by others are
// seen only once life passed, which costs their caller a listing it
// skipped, never a wrong answer.
func (v *VFS) NoteTooBig(dir *Dentry, over int, life time.Duration) {
	if dir.Kind != KindGofer || over <= 0 {
		return
	}
	until := v.attrs.Clock().Add(life)
	v.mu.Lock()
	dir.overBound, dir.overUntil = over, until
	v.mu.Unlock()
}

// TooBig says whether dir is still believed to have more names than the
// bound of the listing that noted it (NoteTooBig).
func (v *VFS) TooBig(dir *Dentry) bool {
	now := v.attrs.Clock()
	v.mu.Lock()
	defer v.mu.Unlock()
	return dir.overBound > 0 && now.Before(dir.overUntil)
}

// removedNameLocked notes that a name of directory d was removed (see
// Dentry.overBound). Precondition: v.mu.
func (d *Dentry) removedNameLocked() {
	if d.overBound > 0 {
		d.overBound--
	}
}

// NoteListing makes or refreshes the dentries of dir's entries from a
// directory listing with their attributes, current at seq (0: not
// trusted for stat, dentries only); seen is RemovalsSeen as read before
// the listing's Getdents (InsertChild).
func (v *VFS) NoteListing(dir *Dentry, ents []*goferpb.Dirent, stats []*goferpb.Stat, seq, seen uint64) {
	if len(stats) != len(ents) || dir.Kind != KindGofer {
		return
	}
	now := v.attrs.Clock()
	for i, e := range ents {
		st, name := stats[i], string(e.Name)
		if st.GetIno() == 0 || name == "" || name == "." || name == ".." || len(name) > 255 || strings.ContainsRune(name, '/') {
			continue
		}
		if dir == v.Root && (name == "dev" || name == "proc") {
			continue // synthesized over the gofer's
		}
		d := v.InsertChild(dir, name, 0, nil, st, seen)
		if seq != 0 {
			v.mu.Lock()
			if d.ino == st.Ino {
				d.listed, d.listedSeq, d.listedAt = st, seq, now
			}
			v.mu.Unlock()
		}
	}
}

// Resolve walks path from start (or the root for an absolute path),
// following symlinks everywhere except, unless follow, in the last
// component.
func (v *VFS) Resolve(c Caller, start *Dentry, path string, follow bool) (*Dentry, error) {
	return v.ResolveForOpen(c, start, path, follow, nil)
}

// ResolveForOpen is Resolve for an open of the file path ends at with
// gofer open flags open.Flags: the last component's lookup, if it walks
// the gofer, opens the file too (PreOpened; nil: none).
func (v *VFS) ResolveForOpen(c Caller, start *Dentry, path string, follow bool, open *PreOpened) (*Dentry, error) {
	hops := 0
	return v.resolveHops(c, start, path, follow, &hops, open)
}

func (v *VFS) resolveHops(c Caller, start *Dentry, path string, follow bool, hops *int, open *PreOpened) (*Dentry, error) {
	if path == "" {
		return nil, unix.ENOENT
	}
	if len(path) >= 4096 {
		return nil, unix.ENAMETOOLONG
	}
	s := scopeOf(c)
	root := v.RootOf(c)
	cur := start
	if path[0] == '/' {
		var err error
		if cur, err = v.scopeAbsolute(s, root, start, *hops > 0); err != nil {
			return nil, err
		}
	}
	trailing := strings.HasSuffix(path, "/")
	comps := strings.Split(path, "/")
	// Index of the last non-empty component.
	last := -1
	for i, s := range comps {
		if s != "" {
			last = i
		}
	}
	for i, name := range comps {
		if name == "" {
			continue
		}
		if !cur.IsDir() {
			return nil, unix.ENOTDIR
		}
		if err := c.MaySearch(cur); err != nil {
			return nil, err
		}
		switch name {
		case ".":
			continue
		case "..":
			parent, err := v.scopeDotDot(s, root, cur)
			if err != nil {
				return nil, err
			}
			cur = parent
			continue
		}
		var lastOpen *PreOpened
		if i == last && !trailing {
			lastOpen = open
		}
		child, err := v.LookupChildForOpen(c, cur, name, lastOpen)
		if err != nil {
			return nil, err
		}
		if o, ok := c.(WalkObserver); ok {
			o.Found(child)
		}
		if err := v.scopeStep(s, cur, child); err != nil {
			return nil, err
		}
		if child.IsSymlink() && (i != last || follow || trailing) {
			if err := scopeLink(s); err != nil {
				return nil, err
			}
			*hops++
			if *hops > maxSymlinkHops {
				return nil, unix.ELOOP
			}
			// A link an open ends at: its target's last lookup opens
			// the file (one Walk, not a lookup and a walk-open).
			child, err = v.followLink(c, cur, child, hops, lastOpen)
			if err != nil {
				return nil, err
			}
		}
		cur = child
	}
	if trailing && !cur.IsDir() {
		if cur.IsSymlink() {
			return nil, unix.ENOENT
		}
		return nil, unix.ENOTDIR
	}
	return cur, nil
}

// followLink resolves symlink link found in dir; with open set, the
// target's last lookup opens the file too (ResolveForOpen).
func (v *VFS) followLink(c Caller, dir, link *Dentry, hops *int, open *PreOpened) (*Dentry, error) {
	if t, ok, err := v.kern.MagicTarget(c, link); ok || err != nil {
		if err == nil {
			err = v.scopeMagic(scopeOf(c), dir, t)
		}
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	target, err := v.Readlink(c, link)
	if err != nil {
		return nil, err
	}
	if target == "" {
		return nil, unix.ENOENT
	}
	return v.resolveHops(c, dir, target, true, hops, open)
}

// FollowLinkParent resolves symlink link found in dir as an open with
// O_CREAT does (Linux's open_last_lookups): all of its target but the last
// component, which it returns as name in dir (trailing: the target ends
// with a slash), for the open to look up or create. hops counts the links
// followed, link included. A magic link (/proc/<pid>/fd/<n>) names a file
// and no name: it returns that file as target.
func (v *VFS) FollowLinkParent(c Caller, dir, link *Dentry, hops *int) (pdir *Dentry, name string, trailing bool, target *Dentry, err error) {
	s := scopeOf(c)
	if err := scopeLink(s); err != nil {
		return nil, "", false, nil, err
	}
	*hops++
	if *hops > maxSymlinkHops {
		return nil, "", false, nil, unix.ELOOP
	}
	if t, ok, err := v.kern.MagicTarget(c, link); ok || err != nil {
		if err == nil {
			err = v.scopeMagic(s, dir, t)
		}
		if err != nil {
			return nil, "", false, nil, err
		}
		return nil, "", false, t, nil
	}
	body, err := v.Readlink(c, link)
	if err != nil {
		return nil, "", false, nil, err
	}
	pdir, name, trailing, err = v.resolveParentHops(c, dir, body, hops)
	return pdir, name, trailing, nil, err
}

// ResolveParent resolves all of path but its last component, which it
// returns as name ("." for "/", and "." or ".." as written).
func (v *VFS) ResolveParent(c Caller, start *Dentry, path string) (dir *Dentry, name string, trailing bool, err error) {
	hops := 0
	return v.resolveParentHops(c, start, path, &hops)
}

// resolveParentHops is ResolveParent with hops counting the symlinks
// followed before.
func (v *VFS) resolveParentHops(c Caller, start *Dentry, path string, hops *int) (dir *Dentry, name string, trailing bool, err error) {
	if path == "" {
		return nil, "", false, unix.ENOENT
	}
	if len(path) >= 4096 {
		return nil, "", false, unix.ENAMETOOLONG
	}
	trimmed := strings.TrimRight(path, "/")
	trailing = len(trimmed) != len(path)
	if trimmed == "" {
		root, err := v.scopeAbsolute(scopeOf(c), v.RootOf(c), start, *hops > 0)
		if err != nil {
			return nil, "", false, err
		}
		return root, ".", true, nil
	}
	i := strings.LastIndexByte(trimmed, '/')
	name = trimmed[i+1:]
	if len(name) > 255 {
		return nil, "", false, unix.ENAMETOOLONG
	}
	prefix := trimmed[:i+1]
	dir = start
	if prefix != "" {
		dir, err = v.resolveHops(c, start, prefix, true, hops, nil)
		if err != nil {
			return nil, "", false, err
		}
	}
	if !dir.IsDir() {
		return nil, "", false, unix.ENOTDIR
	}
	// Linux's walk checks search permission on the directory before it
	// looks at the last component (link_path_walk's may_lookup), so a
	// name in a directory the caller may not search is EACCES, existing
	// or not.
	if err := c.MaySearch(dir); err != nil {
		return nil, "", false, err
	}
	return dir, name, trailing, nil
}

// HandleForOpen returns a new gofer handle for regular file d: by its
// name, or, for a file unlinked while open (reached through
// /proc/<pid>/fd/<n>), by its file handle, as Linux reopens the inode.
func (v *VFS) HandleForOpen(d *Dentry) (uint64, []byte, error) {
	h, _, fh, err := v.FreshHandle(d)
	if err == nil {
		return h, fh, nil
	}
	v.mu.Lock()
	deleted, fh := d.deleted, d.fh
	v.mu.Unlock()
	if !deleted || fh == nil {
		return 0, nil, err
	}
	h, _, err = v.ReopenHandle(fh)
	if err != nil {
		return 0, nil, fmt.Errorf("reopen unlinked %q: %w", d.name, err)
	}
	return h, fh, nil
}

// IsDeleted says whether d (nil: no) was unlinked or replaced.
func (v *VFS) IsDeleted(d *Dentry) bool {
	if d == nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return d.deleted
}

// AttrsOf returns d's attributes as this client last saw them: gofer
// dentries keep the mode, owner and group of their last stat, walk or
// change made through this server (another sentry sharing the gofer may
// have changed them since: the same coherence as the dentry cache);
// synthesized files are root's, except that a /proc/<pid> directory and
// what is in it belong to the process's euid and egid, as on Linux (a
// non-root process may search its own /proc/self/fd).
func (v *VFS) AttrsOf(d *Dentry) auth.FileAttrs {
	switch d.Kind {
	case KindGofer:
	case KindProcPid, KindProcCwd, KindProcRoot, KindProcExe, KindProcFdDir, KindProcFd, KindProcFile:
		a := auth.FileAttrs{Mode: d.Mode}
		a.UID, a.GID, _ = v.kern.ProcOwner(d.PID)
		return a
	default:
		return auth.FileAttrs{Mode: d.Mode}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return auth.FileAttrs{Mode: d.Mode&unix.S_IFMT | d.perm, UID: d.uid, GID: d.gid}
}

// NoteAttrs records attributes of d just read from the gofer.
func (v *VFS) NoteAttrs(d *Dentry, st *goferpb.Stat) {
	if d == nil || st == nil || d.Kind != KindGofer || st.Ino != d.ino {
		return
	}
	v.mu.Lock()
	d.perm, d.uid, d.gid = st.Mode&07777, st.Uid, st.Gid
	v.mu.Unlock()
}

// NoteSetAttrs sets d's owner and mode to what req, a SetStat of d the
// gofer has not made yet, leaves: a posted change (package kernel's
// PostAttrRun) is made after the server's next permission checks, which
// read them. The gofer applies the owner before the mode, so a mode req
// sets is the file's after it; a change of the owner without one may
// clear set-id bits, which the caller then learns from the reply
// (NoteAttrs).
func (v *VFS) NoteSetAttrs(d *Dentry, req *goferpb.SetStatRequest) {
	if d == nil || d.Kind != KindGofer {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if req.Mask&unix.STATX_UID != 0 {
		d.uid = req.Uid
	}
	if req.Mask&unix.STATX_GID != 0 {
		d.gid = req.Gid
	}
	if req.Mask&unix.STATX_MODE != 0 {
		d.perm = req.Mode & 07777
	}
}

// RefreshAttrs asks the gofer for d's attributes, which NoteSetAttrs
// may have set to what a change that failed would have left.
func (v *VFS) RefreshAttrs(d *Dentry) {
	v.StatDentry(nil, d)
}

// ReopenHandle asks the gofer for a new handle of file handle fh.
func (v *VFS) ReopenHandle(fh []byte) (uint64, *goferpb.Stat, error) {
	if len(fh) == 0 {
		return 0, nil, unix.ESTALE
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.Reopen(ctx, &goferpb.ReopenRequest{FileHandle: fh})
	if err := syserr.FromGofer("reopen", r.GetErrno(), err); err != nil {
		return 0, nil, err
	}
	if r.Handle == nil || r.Stat == nil {
		if r.Handle != nil {
			v.releases.Release([]uint64{r.Handle.Id})
		}
		return 0, nil, unix.EIO
	}
	return r.Handle.Id, r.Stat, nil
}

// DevKind names a synthesized device.
type DevKind int

const (
	DevNull DevKind = iota
	DevZero
	DevFull
	DevRandom
)

// SynthDev is the device number of the synthesized files.
const SynthDev = 0x0e
