package server

import (
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
)

// Poll event bits.
const (
	pollIn     = 0x1
	pollPri    = 0x2
	pollOut    = 0x4
	pollErr    = 0x8
	pollHup    = 0x10
	pollNval   = 0x20
	pollRdNorm = 0x40
	pollWrNorm = 0x100
)

// fileImpl is what kind of file an open file description is.
type fileImpl interface {
	// read returns up to n bytes at off (off is ignored by streams).
	read(c fdesc.Call, f *file, n int, off int64) ([]byte, error)
	// write writes b at off (ignored by streams) and returns how much it
	// wrote.
	write(c fdesc.Call, f *file, b []byte, off int64) (int, error)
	// stat returns the file's attributes.
	stat(c fdesc.Call) (*goferpb.Stat, error)
	// stream says the file has no offset (pipes, terminals): ESPIPE.
	stream() bool
	// readiness returns the poll events ready now and, if it can change,
	// a channel closed when it might have.
	readiness(f *file) (uint32, <-chan struct{})
	// release frees the implementation when the last reference goes.
	release()
}

// fileBase provides defaults for fileImpl methods.
type fileBase struct{}

func (fileBase) write(fdesc.Call, *file, []byte, int64) (int, error) {
	return 0, unix.EINVAL
}
func (fileBase) stream() bool { return false }
func (fileBase) readiness(*file) (uint32, <-chan struct{}) {
	return pollIn | pollOut | pollRdNorm | pollWrNorm, nil
}
func (fileBase) release() {}

// fileOwner is the client a description belongs to, as the description
// sees it: what its last reference's release must tell (the durability
// tracker, inotify's close event, the lock and lease tables). It is set
// when the description is made, so that the description does not reach
// the client through its dentry; *clientState implements it.
type fileOwner interface {
	// durabilityHolds reports whether the durability tracker holds f
	// (until its writes are durable).
	durabilityHolds(f *file) bool
	// inotifyClosed reports the release of f to inotify (once).
	inotifyClosed(f *file)
	// dropDescriptionLocks drops f's OFD and flock locks.
	dropDescriptionLocks(f *file)
	// dropLease drops f's lease.
	dropLease(f *file)
}

// fileTracker is where a description reports a change of its replay
// state: the client's stateTracker, once an fd table holds the
// description (or a Restore made it).
type fileTracker interface {
	touchFile(f *file)
}

// file is an open file description: shared by dup and fork, with one
// offset and one set of status flags.
type file struct {
	refs atomic.Int64
	// id is the description's stable id in the replay state (0 until
	// first reported or restored).
	id atomic.Uint64
	// trk (a fileTracker) is set when the description is installed in an
	// fd table: its changes are then reported. Set atomically (install,
	// restore); read with tracker.
	trk atomic.Value
	// offRep is the offset reported in the replay state (for a directory,
	// the encoded getdents cursor): the offset as the last call whose
	// reply was built left it (see callEffects). offCommitted is that
	// call's offVer. Both are written under clientState.mu.
	offRep       atomic.Int64
	offCommitted uint64
	// impl, d and owner are immutable. d is the file's dentry when it has
	// a path (nil for pipes and stdio); owner is its client when it has a
	// dentry of the client's tree (nil otherwise: such a description
	// cannot be locked, leased, watched or tracked for durability).
	impl  fileImpl
	d     *dentry
	owner fileOwner
	// flags are the access mode and status flags (O_APPEND, O_NONBLOCK,
	// O_PATH, ...). Changed atomically by fcntl(F_SETFL).
	flags atomic.Uint32

	// mu serializes I/O that uses the offset (Linux's f_pos_lock). It is
	// held across gofer RPCs and is first in the lock order.
	mu sync.Mutex
	// off is the file offset. Protected by mu.
	off int64
	// offVer counts changes of off and dir. Protected by mu.
	offVer uint64
	// dir is the getdents cursor. Protected by mu.
	dir fdesc.DirCursor
	// closeNoted is set once inotify was told of the description's
	// close (decRef, inotifyClosed), which happens once.
	closeNoted atomic.Bool
	// hasLocks is set once the description took an OFD or flock lock: its
	// release then has its owner drop them. Set atomically (fcntlLock,
	// sysFlock, restore).
	hasLocks atomic.Bool
	// hasLease is set once the description took a lease (leases.go): its
	// release then has its owner drop it. Set atomically.
	hasLease atomic.Bool
	// async is the description's owner, I/O signal and O_ASYNC watcher
	// (leases.go); it has its own lock.
	async fdesc.Async
	// wbErr is the errno of a posted write that failed or wrote short,
	// kept for the next fsync, fdatasync, waited write or close of the
	// description (posted.go). Set and taken atomically by the calls of
	// the description's users.
	wbErr atomic.Int32
}

func newFile(impl fileImpl, d *dentry, flags uint32) *file {
	f := &file{impl: impl, d: d}
	if d != nil && d.v != nil {
		f.owner = d.v.k
	}
	f.refs.Store(1)
	f.flags.Store(flags)
	return f
}

// IncRef takes a reference.
func (f *file) IncRef() { f.refs.Add(1) }

// inodeOpen reports whether the application has the gofer file with inode
// number ino open: an fd of a process refers to it, or it is mapped. Open
// file descriptions only the server keeps (until their writes are
// durable) do not count.
func (k *clientState) inodeOpen(ino uint64) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := make(map[*fdTable]bool)
	for _, p := range k.procs {
		t := p.fds
		if t == nil || seen[t] {
			continue
		}
		seen[t] = true
		open := false
		t.mu.Lock()
		t.eachLocked(func(_ int, e fdEntry) {
			open = open || (e.f.d != nil && e.f.d.kind == dkGofer && e.f.d.ino == ino)
		})
		t.mu.Unlock()
		if open {
			return true
		}
	}
	return k.maps.Holds(ino)
}

// inodeOpenForWrite reports whether the application has the gofer file
// with inode number ino open for writing: an fd of a process refers to a
// writable description of it, or a shared mapping keeps one (Linux's
// i_writecount, which makes execve ETXTBSY). Descriptions of other
// clients and of the host are not seen.
func (k *clientState) inodeOpenForWrite(ino uint64) bool {
	if wfs := k.maps.WritablesOf(ino); len(wfs) > 0 {
		for _, wf := range wfs {
			wf.DecRef()
		}
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := make(map[*fdTable]bool)
	for _, p := range k.procs {
		t := p.fds
		if t == nil || seen[t] {
			continue
		}
		seen[t] = true
		t.mu.Lock()
		for _, e := range t.fds {
			if f := e.f; f != nil && f.d != nil && f.d.kind == dkGofer && f.d.ino == ino && f.accMode() != unix.O_RDONLY {
				t.mu.Unlock()
				return true
			}
		}
		t.mu.Unlock()
	}
	return false
}

// DecRef drops a reference; the last one releases the implementation. It
// may make a gofer RPC: never call it holding clientState.mu.
func (f *file) DecRef() {
	n := f.refs.Add(-1)
	if n == 1 && f.owner != nil && f.owner.durabilityHolds(f) {
		// Only the durability tracker still holds it: the application
		// closed it (inotify's close event).
		f.owner.inotifyClosed(f)
	}
	if n == 0 {
		if f.owner != nil && f.hasLocks.Load() {
			f.owner.dropDescriptionLocks(f)
		}
		if f.owner != nil && f.hasLease.Load() {
			f.owner.dropLease(f)
		}
		f.async.StopWatch()
		f.impl.release()
		if f.owner != nil {
			f.owner.inotifyClosed(f)
		}
		f.changed()
	}
}

// tracker returns where f's changes are reported (nil until an fd table
// holds it).
func (f *file) tracker() fileTracker {
	t, _ := f.trk.Load().(fileTracker)
	return t
}

// setTracker makes t receive f's changes.
func (f *file) setTracker(t fileTracker) { f.trk.Store(t) }

// changed reports a change of f's replay state (flags).
func (f *file) changed() {
	if t := f.tracker(); t != nil {
		t.touchFile(f)
	}
}

// offsetRecorder is the call a description's offset or directory cursor
// changes in: the new value is reported with that call's reply (see
// callEffects), so that a call whose reply was lost is not counted twice.
// *syscallCtx implements it; a nil *syscallCtx reports the value at
// once.
type offsetRecorder interface {
	recordOffset(f *file, ver uint64, off int64)
}

// setOffLocked sets the offset, reported with the reply of call c.
// Precondition: f.mu is held.
func (f *file) setOffLocked(c offsetRecorder, off int64) {
	f.off = off
	f.offVer++
	c.recordOffset(f, f.offVer, off)
}

// setDirLocked sets the getdents cursor, reported with the reply of call
// c. Precondition: f.mu is held.
func (f *file) setDirLocked(c offsetRecorder, cur fdesc.DirCursor) {
	f.dir = cur
	f.offVer++
	c.recordOffset(f, f.offVer, cur.Offset())
}

// recordOffset is c's offsetRecorder.
func (c *syscallCtx) recordOffset(f *file, ver uint64, off int64) {
	if c == nil {
		f.offRep.Store(off)
		return
	}
	e := c.effects()
	for i := range e.offsets {
		if e.offsets[i].f == f {
			e.offsets[i].ver, e.offsets[i].off = ver, off
			return
		}
	}
	e.offsets = append(e.offsets, offChange{f: f, ver: ver, off: off})
}

// lostFile stands for a gofer file a restored server could not reopen
// (removed while the gofer restarted): every operation fails with ESTALE,
// as on an NFS client whose file handle went stale.
type lostFile struct {
	fileBase
	fh   []byte
	path string
}

func (*lostFile) read(fdesc.Call, *file, int, int64) ([]byte, error)  { return nil, unix.ESTALE }
func (*lostFile) write(fdesc.Call, *file, []byte, int64) (int, error) { return 0, unix.ESTALE }
func (*lostFile) stat(fdesc.Call) (*goferpb.Stat, error)              { return nil, unix.ESTALE }

func (f *file) accMode() uint32 { return f.flags.Load() & unix.O_ACCMODE }
func (f *file) isPath() bool    { return f.flags.Load()&unix.O_PATH != 0 }
func (f *file) readable() bool {
	m := f.accMode()
	return !f.isPath() && (m == unix.O_RDONLY || m == unix.O_RDWR)
}
func (f *file) writable() bool {
	m := f.accMode()
	return !f.isPath() && (m == unix.O_WRONLY || m == unix.O_RDWR)
}
func (f *file) nonblock() bool { return f.flags.Load()&unix.O_NONBLOCK != 0 }

// devKind names a synthesized device.
type devKind int

const (
	devNull devKind = iota
	devZero
	devFull
	devRandom
)

// devFile is /dev/null, /dev/zero, /dev/full, /dev/urandom or /dev/random.
type devFile struct {
	fileBase
	kind devKind
	d    *dentry
}

func (f *devFile) read(_ fdesc.Call, _ *file, n int, _ int64) ([]byte, error) {
	switch f.kind {
	case devNull:
		return nil, nil
	case devRandom:
		b := make([]byte, n)
		rand.Read(b)
		return b, nil
	}
	return make([]byte, n), nil
}

func (f *devFile) write(_ fdesc.Call, _ *file, b []byte, _ int64) (int, error) {
	if f.kind == devFull {
		return 0, unix.ENOSPC
	}
	return len(b), nil
}

func (f *devFile) stat(fdesc.Call) (*goferpb.Stat, error) { return f.d.synthStat(), nil }

// pathFile backs O_PATH descriptions and directories of the synthetic
// filesystems: no I/O, only a dentry.
type pathFile struct {
	fileBase
	d *dentry
	c *clientState
}

func (f *pathFile) read(fdesc.Call, *file, int, int64) ([]byte, error) { return nil, unix.EISDIR }

func (f *pathFile) stat(c fdesc.Call) (*goferpb.Stat, error) {
	return f.c.vfs.statDentry(c, f.d)
}

// procFile is a synthesized /proc file whose content was taken at open
// (when opened for reading) and is taken again by every later read at
// offset 0, as Linux's seq files start over there (top re-reads
// /proc/stat with lseek and read); writes go to procfs.Write.
type procFile struct {
	fileBase
	// v and d are immutable: the file's vfs and dentry.
	v *vfs
	d *dentry
	// mounts is the mount table, for /proc/<pid>/mounts and mountinfo,
	// which poll as Linux's mounts_poll (set at open).
	mounts *mount.Table
	// mu guards the fields below (a leaf: content is generated without
	// it).
	mu sync.Mutex
	// data is the content last taken; unread says no read has used it
	// yet, so that a read at 0 just after the open does not take it
	// twice.
	data   []byte
	unread bool
	// pollEvent is the mount table's change count at the open or at the
	// last poll that reported a change.
	pollEvent uint64
}

// readiness of /proc/<pid>/mounts and mountinfo: readable, and
// EPOLLERR|EPOLLPRI at the first poll after the mount table changed.
// Other /proc files are always ready, as fileBase says.
func (f *procFile) readiness(*file) (uint32, <-chan struct{}) {
	if f.mounts == nil {
		return f.fileBase.readiness(nil)
	}
	event, ch := f.mounts.Event()
	r := uint32(pollIn | pollRdNorm)
	f.mu.Lock()
	if event != f.pollEvent {
		f.pollEvent = event
		r |= pollErr | pollPri
	}
	f.mu.Unlock()
	return r, ch
}

func (f *procFile) read(_ fdesc.Call, _ *file, n int, off int64) ([]byte, error) {
	f.mu.Lock()
	again := off == 0 && !f.unread
	f.unread = false
	data := f.data
	f.mu.Unlock()
	if again {
		var err error
		if data, err = f.v.procFileData(f.d); err != nil {
			if errors.Is(err, unix.ENOENT) && f.d.kind == dkProcFile && f.d.procScope != procfs.Top {
				// The process is gone: Linux's ESRCH, but environ,
				// which reads as empty without an address space.
				if f.d.procName == "environ" {
					return nil, nil
				}
				return nil, unix.ESRCH
			}
			return nil, err
		}
		f.mu.Lock()
		f.data = data
		f.mu.Unlock()
	}
	if off >= int64(len(data)) {
		return nil, nil
	}
	end := off + int64(n)
	if end > int64(len(data)) {
		end = int64(len(data))
	}
	return append([]byte(nil), data[off:end]...), nil
}

func (f *procFile) write(_ fdesc.Call, _ *file, b []byte, _ int64) (int, error) {
	if err := procfs.Write(procSource{f.v.k}, f.d.procScope, f.d.procName, f.d.pid, f.d.tid, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (f *procFile) stat(fdesc.Call) (*goferpb.Stat, error) {
	st := f.d.synthStat()
	return st, nil
}
