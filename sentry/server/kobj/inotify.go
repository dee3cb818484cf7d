package kobj

import (
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/sentry/arch"
	"gvisor.dev/gvisor/pkg/sentry/uniqueid"
	"gvisor.dev/gvisor/pkg/sentry/vfs"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"
)

// gVisor's inotify asks its context for unique ids (an instance's id, a
// rename's cookie), which its kernel provides; these counters do here.
var (
	uniqueIDs     atomic.Uint64
	inotifyCookie atomic.Uint32
)

// idCtx is Ctx answering gVisor's unique-id keys: id (if not 0) as the
// global unique id, else a fresh one.
type idCtx struct {
	context.Context
	id uint64
}

func (c idCtx) Value(key any) any {
	switch key {
	case uniqueid.CtxGlobalUniqueID:
		if c.id != 0 {
			return c.id
		}
		return uniqueIDs.Add(1)
	case uniqueid.CtxInotifyCookie:
		return inotifyCookie.Add(1)
	}
	return c.Context.Value(key)
}

// InotifyCtx is the context for inotify notifications (a rename's
// cookie).
func InotifyCtx() context.Context { return idCtx{Context: Ctx()} }

// Inotify is an inotify instance: gVisor's vfs.Inotify, and a mirror of
// its watches (gVisor keeps them private; recovery needs them).
type Inotify struct {
	fd    *vfs.FileDescription
	in    *vfs.Inotify
	id    uint64
	Watch *Watch

	// mu protects watches, the mirror: wd to target and mask. A watch
	// gVisor dropped by itself (IN_ONESHOT fired, target deleted) stays
	// here until Watches filters it out.
	mu      sync.Mutex
	watches map[int32]InotifyWatch
}

// InotifyWatch is one watch of an instance.
type InotifyWatch struct {
	WD     int32
	Mask   uint32
	Target *InotifyTarget
}

// NewInotify creates an inotify instance. The description is always
// non-blocking inside: blocking is the server's.
func NewInotify() (*Inotify, error) {
	v, err := VFS()
	if err != nil {
		return nil, err
	}
	id := uniqueIDs.Add(1)
	fd, err := vfs.NewInotifyFD(idCtx{Context: Ctx(), id: id}, v, linux.O_NONBLOCK)
	if err != nil {
		return nil, Errno(err)
	}
	i := &Inotify{fd: fd, in: fd.Impl().(*vfs.Inotify), id: id, watches: make(map[int32]InotifyWatch)}
	i.Watch = NewWatch(fd)
	return i, nil
}

// Read reads pending events into dst (EAGAIN when there are none,
// EINVAL when dst cannot hold the first).
func (i *Inotify) Read(dst usermem.IOSequence) (int64, error) {
	n, err := i.fd.Read(Ctx(), dst, vfs.ReadOptions{})
	return n, Errno(err)
}

// Queued returns the size of the queued events (FIONREAD).
func (i *Inotify) Queued() (int, error) {
	var b [4]byte
	args := arch.SyscallArguments{{}, {Value: linux.FIONREAD}, {Value: 0}}
	if _, err := i.in.Ioctl(Ctx(), &usermem.BytesIO{Bytes: b[:]}, 0, args); err != nil {
		return 0, Errno(err)
	}
	return int(binary.LittleEndian.Uint32(b[:])), nil
}

// Readiness returns the events ready now.
func (i *Inotify) Readiness() uint32 {
	return uint32(i.fd.Readiness(waiter.AllEvents))
}

// AddWatch watches t for the events of mask (IN_MASK_ADD adds them to an
// existing watch's) and returns the watch descriptor.
func (i *Inotify) AddWatch(t *InotifyTarget, mask uint32) int32 {
	i.mu.Lock()
	defer i.mu.Unlock()
	wd := i.in.AddWatch(&t.vd, mask)
	w, ok := i.watches[wd]
	if ok && mask&linux.IN_MASK_ADD != 0 {
		mask |= w.Mask
	}
	i.watches[wd] = InotifyWatch{WD: wd, Mask: mask, Target: t}
	return wd
}

// RmWatch removes watch wd (EINVAL if there is none); gVisor queues
// IN_IGNORED.
func (i *Inotify) RmWatch(wd int32) error {
	i.mu.Lock()
	delete(i.watches, wd)
	i.mu.Unlock()
	return Errno(i.in.RmWatch(Ctx(), wd))
}

// Watches returns the live watches in wd order.
func (i *Inotify) Watches() []InotifyWatch {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]InotifyWatch, 0, len(i.watches))
	for wd, w := range i.watches {
		if w.Target.watches.Lookup(i.id) == nil {
			delete(i.watches, wd)
			continue
		}
		out = append(out, w)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].WD < out[b].WD })
	return out
}

// Restore rebuilds watches with their descriptors (ws in wd order, on a
// new instance): gVisor numbers watches itself, from 1, so the numbers
// in between are taken by watches on a scratch target and removed, and
// the IN_IGNORED events that leaves are read away.
func (i *Inotify) Restore(ws []InotifyWatch) error {
	scratch := NewInotifyTarget(nil)
	next := int32(1)
	for _, w := range ws {
		if w.WD < next {
			return unix.EINVAL
		}
		for ; next < w.WD; next++ {
			if err := i.RmWatch(i.AddWatch(scratch, linux.IN_ALL_EVENTS)); err != nil {
				return err
			}
		}
		if got := i.AddWatch(w.Target, w.Mask); got != w.WD {
			return unix.EINVAL
		}
		next++
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := i.Read(usermem.BytesIOSequence(buf)); err != nil {
			break
		}
	}
	return nil
}

// Release frees the instance (its watches go with it).
func (i *Inotify) Release() {
	i.Watch.Stop()
	i.fd.DecRef(Ctx())
}

// InotifyTarget is a file that can be watched: the watches of one inode
// of the server, as a gVisor Dentry (which only carries them here).
type InotifyTarget struct {
	vd      vfs.Dentry
	watches vfs.Watches
	// onZero is called when the last watch goes. Immutable.
	onZero func()
}

// NewInotifyTarget returns a target; onZero (may be nil) is called when
// its last watch goes.
func NewInotifyTarget(onZero func()) *InotifyTarget {
	t := &InotifyTarget{onZero: onZero}
	t.vd.Init(t)
	return t
}

// Notify reports events (with name, for a directory's child; cookie for
// a rename) to t's watches; unlinked says the child was unlinked.
func (t *InotifyTarget) Notify(name string, events, cookie uint32, unlinked bool) {
	t.watches.Notify(InotifyCtx(), name, events, cookie, vfs.InodeEvent, unlinked)
}

// NotifyChild reports events of t's child name (a directory's watches
// with IN_EXCL_UNLINK skip those of an unlinked child).
func (t *InotifyTarget) NotifyChild(name string, events uint32, unlinked bool) {
	t.watches.Notify(InotifyCtx(), name, events, 0, vfs.PathEvent, unlinked)
}

// Deleted reports t's deletion (IN_DELETE_SELF) and drops its watches
// (IN_IGNORED).
func (t *InotifyTarget) Deleted() { t.watches.HandleDeletion(InotifyCtx()) }

// InotifyStatEvents is the event of an attribute change of mask
// (STATX_*): IN_ATTRIB, or IN_MODIFY for a size change.
func InotifyStatEvents(mask uint32) uint32 { return vfs.InotifyEventFromStatMask(mask) }

// NewCookie returns a cookie that ties IN_MOVED_FROM to IN_MOVED_TO.
func NewCookie() uint32 { return inotifyCookie.Add(1) }

// IncRef, TryIncRef, DecRef, InotifyWithParent, Watches and
// OnZeroWatches implement vfs.DentryImpl: the target lives as long as the
// server keeps it.
func (t *InotifyTarget) IncRef()                    {}
func (t *InotifyTarget) TryIncRef() bool            { return true }
func (t *InotifyTarget) DecRef(ctx context.Context) {}
func (t *InotifyTarget) InotifyWithParent(ctx context.Context, events, cookie uint32, et vfs.EventType) {
	t.watches.Notify(ctx, "", events, cookie, et, false)
}
func (t *InotifyTarget) Watches() *vfs.Watches { return &t.watches }
func (t *InotifyTarget) OnZeroWatches(context.Context) {
	if t.onZero != nil {
		t.onZero()
	}
}
