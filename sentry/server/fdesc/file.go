package fdesc

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// FileImpl is what kind of file an open file description is (gVisor's
// vfs.FileDescriptionImpl): each file kind implements it.
type FileImpl interface {
	// Read returns up to n bytes at off (off is ignored by streams).
	Read(c Call, f *File, n int, off int64) ([]byte, error)
	// Write writes b at off (ignored by streams) and returns how much it
	// wrote.
	Write(c Call, f *File, b []byte, off int64) (int, error)
	// Stat returns the file's attributes.
	Stat(c Call) (*goferpb.Stat, error)
	// Stream says the file has no offset (pipes, terminals): ESPIPE.
	Stream() bool
	// Readiness returns the poll events ready now and, if it can change,
	// a channel closed when it might have.
	Readiness(f *File) (uint32, <-chan struct{})
	// Release frees the implementation when the last reference goes.
	Release()
}

// AppCloser is a FileImpl told when the application closed the
// description while the durability tracker still holds it (its writes
// not yet durable): what ends with the application's use of the
// description, not with its release, ends then. Its Release follows
// later.
type AppCloser interface {
	AppClosed()
}

// Flusher is a FileImpl told of every close of one of its fds by a
// process (Linux's f_op->flush, which filp_flush calls on each close:
// close, close_range, an fd dup2 replaces, close-on-exec and exit's
// close of the last user's table), not only of the last reference's
// release: what a process holds on the file through any of its fds ends
// then (an mq_notify registration).
type Flusher interface {
	// Flush is called with the closing process's id.
	Flush(pid int32)
}

// FileBase provides defaults for FileImpl's methods: no writes
// (EINVAL), an offset, always ready.
type FileBase struct{}

// Write is EINVAL.
func (FileBase) Write(Call, *File, []byte, int64) (int, error) { return 0, unix.EINVAL }

// Stream is false: the file has an offset.
func (FileBase) Stream() bool { return false }

// Readiness is always readable and writable.
func (FileBase) Readiness(*File) (uint32, <-chan struct{}) {
	return linux.POLLIN | linux.POLLOUT | linux.POLLRDNORM | linux.POLLWRNORM, nil
}

// Release does nothing.
func (FileBase) Release() {}

// Dentry is the path a description was opened by, as the file layer
// sees it: the file layer only holds it; the server's dentry (its walk,
// its file kinds) is what implements it.
type Dentry interface {
	// Ino is the inode number of the dentry's file.
	Ino() uint64
}

// Owner is the client a description belongs to, as the description sees
// it: what its last reference's release must tell (the durability
// tracker, inotify's close event, the lock and lease tables). It is set
// when the description is made, so that the description does not reach
// the client through its dentry.
type Owner interface {
	// DurabilityHolds reports whether the durability tracker holds f
	// (until its writes are durable).
	DurabilityHolds(f *File) bool
	// InotifyClosed reports the release of f to inotify (once).
	InotifyClosed(f *File)
	// DropDescriptionLocks drops f's OFD and flock locks.
	DropDescriptionLocks(f *File)
	// DropLease drops f's lease.
	DropLease(f *File)
}

// Tracker is where a description reports a change of its replay state:
// the client's replay tracker, once an fd table holds the description
// (or a Restore made it).
type Tracker interface {
	TouchFile(f *File)
}

// OffsetRecorder is the call a description's offset or directory cursor
// changes in: the new value is reported with that call's reply, so that a
// call whose reply was lost is not counted twice.
type OffsetRecorder interface {
	RecordOffset(f *File, ver uint64, off int64)
}

// File is an open file description (gVisor's vfs.FileDescription):
// shared by dup and fork, with one offset and one set of status flags.
type File struct {
	refs atomic.Int64
	// ID is the description's stable id in the replay state (0 until
	// first reported or restored). Set by the server's state derivation
	// or its Restore, or by a reply that names the description before
	// its record is derived (a posted open's, a lease's).
	ID atomic.Uint64
	// Recorded says the description's record was derived once (or a
	// Restore made it from one): a record naming it (an fd's, an epoll
	// interest's) need not bring its record along. An id alone
	// does not say so: it may be assigned by a reply before any record.
	// Set by the server's state derivation or its Restore.
	Recorded atomic.Bool
	// trk (a Tracker) is set when the description is installed in an
	// fd table: its changes are then reported. Set atomically (install,
	// restore); read with Tracker.
	trk atomic.Value
	// OffRep is the offset reported in the replay state (for a
	// directory, the encoded getdents cursor): the offset as the last
	// call whose reply was built left it. OffCommitted is that call's
	// OffVer. Both are written under kernel.Kernel.Mu.
	OffRep       atomic.Int64
	OffCommitted uint64
	// Impl, dentry and owner are immutable. dentry is the file's dentry
	// when it has a path (nil for pipes and stdio); owner is its client
	// when it has a dentry of the client's tree (nil otherwise: such a
	// description cannot be locked, leased, watched or tracked for
	// durability).
	Impl   FileImpl
	dentry Dentry
	owner  Owner
	// Flags are the access mode and status flags (O_APPEND, O_NONBLOCK,
	// O_PATH, ...). Changed atomically by fcntl(F_SETFL).
	Flags atomic.Uint32

	// OffMu serializes I/O that uses the offset (Linux's f_pos_lock). It
	// is held across gofer RPCs and is first in the lock order.
	OffMu sync.Mutex
	// Off is the file offset. Protected by OffMu.
	Off int64
	// OffVer counts changes of Off and Dir. Protected by OffMu.
	OffVer uint64
	// Dir is the getdents cursor. Protected by OffMu.
	Dir DirCursor
	// CloseNoted is set once inotify was told of the description's
	// close (DecRef, InotifyClosed), which happens once.
	CloseNoted atomic.Bool
	// HasLocks is set once the description took an OFD or flock lock:
	// its release then has its owner drop them. Set atomically (by the
	// server's fcntl and flock, and its Restore).
	HasLocks atomic.Bool
	// HasLease is set once the description took a lease: its release
	// then has its owner drop it. Set atomically.
	HasLease atomic.Bool
	// Async is the description's owner, I/O signal and O_ASYNC watcher;
	// it has its own lock.
	Async Async
	// WBErr is the errno of a posted write that failed or wrote short,
	// kept for the next fsync, fdatasync, waited write or close of the
	// description. Set and taken atomically by the calls of the
	// description's users.
	WBErr atomic.Int32
	// FailSeen and FSFailSeen are the number of the last failed
	// Rewrite's write (durable.Tracker.FailedAfter) an fsync, fdatasync
	// or waiting sync_file_range of the description (FailSeen), or a
	// syncfs through it (FSFailSeen), reported: Linux's f_wb_err and
	// f_sb_err. Not replay state: a failure is the server's that held
	// it. Checked and advanced atomically (kernel.FailedWriteErr).
	FailSeen, FSFailSeen atomic.Uint64
}

// NewFile returns a description of impl with one reference, opened by d
// (nil: none) for owner (nil: none) with flags.
func NewFile(impl FileImpl, d Dentry, owner Owner, flags uint32) *File {
	f := &File{Impl: impl, dentry: d, owner: owner}
	f.refs.Store(1)
	f.Flags.Store(flags)
	return f
}

// Dentry returns the dentry f was opened by (nil: none).
func (f *File) Dentry() Dentry { return f.dentry }

// IncRef takes a reference.
func (f *File) IncRef() { f.refs.Add(1) }

// Released reports whether the last reference is gone.
func (f *File) Released() bool { return f.refs.Load() <= 0 }

// Flush tells f's implementation that process pid closed an fd of f
// (Flusher), before the fd's reference is dropped.
func (f *File) Flush(pid int32) {
	if fl, ok := f.Impl.(Flusher); ok {
		fl.Flush(pid)
	}
}

// DecRef drops a reference; the last one releases the implementation. It
// may make a gofer RPC: never call it holding the server's
// kernel.Kernel.Mu.
func (f *File) DecRef() {
	n := f.refs.Add(-1)
	if n == 1 && f.owner != nil && f.owner.DurabilityHolds(f) {
		// Only the durability tracker still holds it: the application
		// closed it (inotify's close event).
		if ac, ok := f.Impl.(AppCloser); ok {
			ac.AppClosed()
		}
		f.owner.InotifyClosed(f)
	}
	if n == 0 {
		if f.owner != nil && f.HasLocks.Load() {
			f.owner.DropDescriptionLocks(f)
		}
		if f.owner != nil && f.HasLease.Load() {
			f.owner.DropLease(f)
		}
		f.Async.StopWatch()
		f.Impl.Release()
		if f.owner != nil {
			f.owner.InotifyClosed(f)
		}
		f.Changed()
	}
}

// Tracker returns where f's changes are reported (nil until an fd table
// holds it).
func (f *File) Tracker() Tracker {
	t, _ := f.trk.Load().(Tracker)
	return t
}

// SetTracker makes t receive f's changes.
func (f *File) SetTracker(t Tracker) { f.trk.Store(t) }

// Changed reports a change of f's replay state (flags).
func (f *File) Changed() {
	if t := f.Tracker(); t != nil {
		t.TouchFile(f)
	}
}

// SetOffLocked sets the offset, reported with the reply of call c.
// Precondition: f.OffMu is held.
func (f *File) SetOffLocked(c OffsetRecorder, off int64) {
	f.Off = off
	f.OffVer++
	c.RecordOffset(f, f.OffVer, off)
}

// SetDirLocked sets the getdents cursor, reported with the reply of call
// c. Precondition: f.OffMu is held.
func (f *File) SetDirLocked(c OffsetRecorder, cur DirCursor) {
	f.Dir = cur
	f.OffVer++
	c.RecordOffset(f, f.OffVer, cur.Offset())
}

// AccMode returns the access mode (O_RDONLY, O_WRONLY, O_RDWR).
func (f *File) AccMode() uint32 { return f.Flags.Load() & unix.O_ACCMODE }

// IsPath reports whether f was opened with O_PATH.
func (f *File) IsPath() bool { return f.Flags.Load()&unix.O_PATH != 0 }

// Readable reports whether f may be read.
func (f *File) Readable() bool {
	m := f.AccMode()
	return !f.IsPath() && (m == unix.O_RDONLY || m == unix.O_RDWR)
}

// Writable reports whether f may be written.
func (f *File) Writable() bool {
	m := f.AccMode()
	return !f.IsPath() && (m == unix.O_WRONLY || m == unix.O_RDWR)
}

// Nonblock reports whether f has O_NONBLOCK.
func (f *File) Nonblock() bool { return f.Flags.Load()&unix.O_NONBLOCK != 0 }

// SeqFile is a file kind whose reads and writes take an IOSequence over
// the application's buffers (gVisor's FileDescriptionImpl.Read and
// Write) instead of a byte slice: the kernel objects of gVisor's packages.
type SeqFile interface {
	ReadSeq(c Call, f *File, dst usermem.IOSequence) (int64, error)
	WriteSeq(c Call, f *File, src usermem.IOSequence) (int64, error)
}
