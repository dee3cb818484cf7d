package mqueue

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// Dev is the device number of the mqueue file system's inodes.
const Dev = 0x0e

// inodeSize is a queue inode's st_size (Linux's FILENT_SIZE).
const inodeSize = 80

// File is an open queue description (mq_open's). Its fields are
// immutable; its queue's state is the Registry's.
type File struct {
	fdesc.FileBase
	r *Registry
	q *Queue
}

// NewFile returns a description of q, whose open the caller got from
// Open (or Reopen), with mq_open's flags (the access mode and
// O_NONBLOCK are what matter).
func (r *Registry) NewFile(q *Queue, flags int32) *fdesc.File {
	const creation = unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC | unix.O_CLOEXEC
	return fdesc.NewFile(&File{r: r, q: q}, nil, nil, uint32(flags)&^creation)
}

// Queue returns f's queue.
func (f *File) Queue() *Queue { return f.q }

// Registry returns the namespace of f's queue.
func (f *File) Registry() *Registry { return f.r }

// Read returns the queue's status line at off (mqueue_read_file).
func (f *File) Read(_ fdesc.Call, _ *fdesc.File, n int, off int64) ([]byte, error) {
	info := f.r.Info(f.q)
	if off < 0 {
		return nil, unix.EINVAL
	}
	if off >= int64(len(info)) {
		return nil, nil
	}
	return info[off:min(int64(len(info)), off+int64(n))], nil
}

// Stat returns the queue inode's attributes.
func (f *File) Stat(fdesc.Call) (*goferpb.Stat, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	return statLocked(f.q), nil
}

// Stat returns the attributes of queue name's inode (/dev/mqueue/name),
// false when there is no such queue.
func (r *Registry) Stat(name string) (*goferpb.Stat, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.byName[name]
	if q == nil {
		return nil, false
	}
	return statLocked(q), true
}

// statLocked returns q's inode attributes. Precondition: r.mu is held.
func statLocked(q *Queue) *goferpb.Stat {
	a := q.attrs()
	now := time.Now().UnixNano()
	return &goferpb.Stat{Mode: a.Mode, Uid: a.UID, Gid: a.GID, Nlink: 1, Ino: q.id, Dev: Dev, Size: inodeSize,
		Blksize: 4096, AtimeNs: now, MtimeNs: now, CtimeNs: now}
}

// Readiness is the queue's: readable when not empty, writable when not
// full.
func (f *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) { return f.r.Readiness(f.q) }

// Flush drops the closing process's notification registration, as
// Linux's mqueue_flush_file does on every close of an fd of the queue
// by the registering process (whichever fd registered); a SigevThread
// one sends its cookie (NotifyRemoved).
func (f *File) Flush(pid int32) { f.r.DropNotify(f.q, pid) }

// Release drops the description's open of its queue.
func (f *File) Release() { f.r.Close(f.q) }
