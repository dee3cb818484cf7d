package inotify

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// MaskCreate is IN_MASK_CREATE: add a watch only if the file has none of
// this instance (EEXIST).
const MaskCreate = 0x10000000

// Targets is a client's watched inodes. Its zero value has none.
type Targets struct {
	// watched is how many targets exist: the event hooks return at once
	// when it is 0.
	watched atomic.Int32
	// mu protects targets. A leaf: gVisor is never called with it held.
	mu      sync.Mutex
	targets map[uint64]*kobj.InotifyTarget
}

// Any reports whether some inode has watches.
func (s *Targets) Any() bool { return s.watched.Load() != 0 }

// Target returns the target of inode ino, made if create is set (else
// nil when it has none). A target goes when its last watch does.
func (s *Targets) Target(ino uint64, create bool) *kobj.InotifyTarget {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.targets[ino]; t != nil || !create {
		return t
	}
	if s.targets == nil {
		s.targets = make(map[uint64]*kobj.InotifyTarget)
	}
	var t *kobj.InotifyTarget
	t = kobj.NewInotifyTarget(func() {
		s.mu.Lock()
		if s.targets[ino] == t {
			delete(s.targets, ino)
			s.watched.Add(-1)
		}
		s.mu.Unlock()
	})
	s.targets[ino] = t
	s.watched.Add(1)
	return t
}

// File is an inotify instance.
type File struct {
	anon.Base
	in *kobj.Inotify

	// mu protects watched: the dentry of each watch descriptor, for
	// its replay record and fdinfo. A leaf.
	mu      sync.Mutex
	watched map[int32]fdesc.Dentry
}

// New returns a description of a new inotify instance, with flags'
// O_NONBLOCK.
func New(flags uint32) (*fdesc.File, error) {
	in, err := kobj.NewInotify()
	if err != nil {
		return nil, err
	}
	return fdesc.NewFile(&File{Base: anon.NewBase(0600), in: in, watched: make(map[int32]fdesc.Dentry)},
		nil, nil, unix.O_RDONLY|flags&unix.O_NONBLOCK), nil
}

// Watch is a live watch.
type Watch struct {
	WD   int32
	Mask uint32
	// Dentry is the watched file's (nil: not known, then not
	// recorded).
	Dentry fdesc.Dentry
	// Target is the watched inode's.
	Target *kobj.InotifyTarget
}

// AddWatch watches t, d's inode, for mask's events (IN_MASK_ADD adds to
// an existing watch's; MaskCreate refuses one, EEXIST) and returns the
// watch descriptor. The caller checked mask and the permission.
func (i *File) AddWatch(t *kobj.InotifyTarget, d fdesc.Dentry, mask uint32) (int32, error) {
	if mask&MaskCreate != 0 {
		for _, w := range i.in.Watches() {
			if w.Target == t {
				return 0, unix.EEXIST
			}
		}
	}
	wd := i.in.AddWatch(t, mask&^MaskCreate)
	i.mu.Lock()
	i.watched[wd] = d
	i.mu.Unlock()
	return wd, nil
}

// RmWatch removes watch wd (EINVAL if there is none).
func (i *File) RmWatch(wd int32) error {
	if err := i.in.RmWatch(wd); err != nil {
		return err
	}
	i.mu.Lock()
	delete(i.watched, wd)
	i.mu.Unlock()
	return nil
}

// Watches returns the live watches in descriptor order.
func (i *File) Watches() []Watch {
	i.mu.Lock()
	defer i.mu.Unlock()
	var out []Watch
	for _, w := range i.in.Watches() {
		out = append(out, Watch{WD: w.WD, Mask: w.Mask, Dentry: i.watched[w.WD], Target: w.Target})
	}
	return out
}

// Restore gives a new instance the watches ws, in descriptor order,
// with their descriptors.
func (i *File) Restore(ws []Watch) error {
	kws := make([]kobj.InotifyWatch, 0, len(ws))
	i.mu.Lock()
	for _, w := range ws {
		kws = append(kws, kobj.InotifyWatch{WD: w.WD, Mask: w.Mask, Target: w.Target})
		i.watched[w.WD] = w.Dentry
	}
	i.mu.Unlock()
	return i.in.Restore(kws)
}

// FDInfo is the instance's part of /proc/<pid>/fdinfo/<fd>: a line per
// watch, as Linux's (its file handle is not shown).
func (i *File) FDInfo() []byte {
	var b []byte
	for _, w := range i.Watches() {
		var ino uint64
		if w.Dentry != nil {
			ino = w.Dentry.Ino()
		}
		b = fmt.Appendf(b, "inotify wd:%x ino:%x sdev:0 mask:%x ignored_mask:0\n", w.WD, ino, w.Mask&^linux.IN_MASK_ADD)
	}
	return b
}

// Read serves callers that have bytes rather than application buffers.
func (i *File) Read(c fdesc.Call, f *fdesc.File, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := i.ReadSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

// ReadSeq reads queued events into dst, blocking until there is one.
func (i *File) ReadSeq(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence) (int64, error) {
	return anon.BlockOn(c, f, i.in.Watch, false, func() (int64, error) { return i.in.Read(dst) })
}

// WriteSeq is EBADF, as Linux's (the instance is opened read-only).
func (i *File) WriteSeq(fdesc.Call, *fdesc.File, usermem.IOSequence) (int64, error) {
	return 0, unix.EBADF
}

// Write is EBADF.
func (i *File) Write(fdesc.Call, *fdesc.File, []byte, int64) (int, error) { return 0, unix.EBADF }

// Readiness returns the events ready now and a channel closed when they
// may have changed.
func (i *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	ch := i.in.Watch.Changed()
	return i.in.Readiness(), ch
}

// Release removes the watches and frees the instance.
func (i *File) Release() { i.in.Release() }

// Queued is FIONREAD: the size of the queued events.
func (i *File) Queued() (int, error) { return i.in.Queued() }
