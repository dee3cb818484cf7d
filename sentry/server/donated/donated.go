package donated

import (
	"math"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/gofer"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// File is a donated fd checked to be an open regular file with the
// access mode asked for, not yet held by a handle.
type File struct {
	// FD is the host fd; the File owns it until Hold or Close.
	FD          int
	Read, Write bool
	// Stat is the fd's statx at the check.
	Stat *goferpb.Stat
}

// Check checks that fd, donated for a request opening with flags, is an
// open regular file (not O_PATH) with that access mode, and describes
// it. Otherwise it closes fd and returns nil.
func Check(fd int, flags uint32) *File {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil && (fl&unix.O_PATH != 0 || uint32(fl)&unix.O_ACCMODE != flags&unix.O_ACCMODE) {
		err = unix.EBADF
	}
	var st *goferpb.Stat
	if err == nil {
		st, err = gofer.StatOfFD(fd)
	}
	if err != nil || st.GetMode()&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil
	}
	acc := flags & unix.O_ACCMODE
	return &File{FD: fd, Read: acc != unix.O_WRONLY, Write: acc != unix.O_RDONLY, Stat: st}
}

// Close closes a File no handle took.
func (f *File) Close() { unix.Close(f.FD) }

// FD is a donated fd held by a handle.
type FD struct {
	// fd, read and write are immutable.
	fd          int
	read, write bool
	// exactStat says a statx of fd is what the gofer would report of the
	// file (SetInexact clears it).
	exactStat atomic.Bool
	// refs counts the holders' references and the local calls using
	// fd; the fd is closed with the last.
	refs atomic.Int32
}

// Hold turns f into an FD with no reference yet (the holder takes its
// own with Ref). exactStat says whether its statx is what the gofer
// reports of the file (no set-id bits or link count only the gofer
// knows).
func Hold(f *File, exactStat bool) *FD {
	h := &FD{fd: f.FD, read: f.Read, write: f.Write}
	h.exactStat.Store(exactStat)
	return h
}

// HostFD is the host fd, valid while the caller holds a reference (to
// send it: SCM_RIGHTS gives the peer its own).
func (h *FD) HostFD() int { return h.fd }

// Readable and Writable say what the fd was opened for.
func (h *FD) Readable() bool { return h.read }
func (h *FD) Writable() bool { return h.write }

// Ref takes a reference. The caller holds one, or the lock protecting a
// holder's.
func (h *FD) Ref() { h.refs.Add(1) }

// Put drops a reference; the last closes the fd.
func (h *FD) Put() {
	if h.refs.Add(-1) == 0 {
		unix.Close(h.fd)
	}
}

// SetInexact records that the gofer may now describe the file otherwise
// than its statx (a silly rename lowered its link count).
func (h *FD) SetInexact() { h.exactStat.Store(false) }

// Read serves a Read as the gofer would: up to min(length,
// MaxReadLength) bytes, short only at the end of the file. into, if it
// holds that many bytes, is where they are read (the reply's data is
// then its prefix: ReadInto); else a buffer of their own.
func (h *FD) Read(req *goferpb.ReadRequest, rep *goferpb.ReadReply, into []byte) {
	proto.Reset(rep)
	if req.GetOffset() > math.MaxInt64 {
		rep.Errno = int32(unix.EINVAL)
		return
	}
	want := min(req.GetLength(), gofer.MaxReadLength)
	buf := into
	if uint64(len(buf)) < uint64(want) {
		buf = make([]byte, want)
	}
	buf = buf[:want]
	off := int64(req.GetOffset())
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(h.fd, buf[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if n == 0 {
				rep.Errno = errnoOf(err)
				return
			}
			break // the partial read, as read(2) reports it
		}
		if m == 0 {
			break
		}
		n += m
	}
	rep.Data = buf[:n]
}

// Write serves a Write as the gofer would. Its reply carries the file's
// statx when that is exact, else no attributes.
func (h *FD) Write(req *goferpb.WriteRequest, rep *goferpb.WriteReply) {
	h.writeFrom(req, rep, 0)
}

// writeFrom serves a Write whose first done bytes are already in the
// file (written ahead of a failed or short pwritev): it writes the rest
// as Write does, and an error after some bytes is a short write.
func (h *FD) writeFrom(req *goferpb.WriteRequest, rep *goferpb.WriteReply, done int) {
	proto.Reset(rep)
	data, off := req.GetData(), req.GetOffset()
	if off > math.MaxInt64 || uint64(len(data)) > math.MaxInt64-off {
		rep.Errno = int32(unix.EFBIG)
		return
	}
	if len(data) > math.MaxUint32 {
		data = data[:math.MaxUint32] // Written is a uint32: write short
	}
	n := done
	for n < len(data) {
		HostWrites.Add(1)
		m, err := unix.Pwrite(h.fd, data[n:], int64(off)+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if n == 0 {
				rep.Errno = errnoOf(err)
				return
			}
			break
		}
		n += m
	}
	rep.Written = uint32(n)
	h.statInto(rep)
}

// statInto puts the file's statx in rep when that is exact.
func (h *FD) statInto(rep *goferpb.WriteReply) {
	if h.exactStat.Load() {
		HostStats.Add(1)
		if st, err := gofer.StatOfFD(h.fd); err == nil {
			rep.Stat = st
		}
	}
}

// Size serves a SizeOnly Stat: the fd's statx.
func (h *FD) Size(rep *goferpb.StatReply) {
	proto.Reset(rep)
	st, err := gofer.StatOfFD(h.fd)
	if err != nil {
		rep.Errno = errnoOf(err)
		return
	}
	rep.Stat = st
}

// errnoOf is the positive errno of a host call's error (EIO if none).
func errnoOf(err error) int32 {
	if e, ok := err.(unix.Errno); ok && e != 0 {
		return int32(e)
	}
	return int32(unix.EIO)
}

// Slot is a grpc.CallOption through which a caller receives the host fd
// the gofer donated with the call's result: the stream's reader sets FD
// before the call returns, and the caller owns it. FD is -1 when none
// came.
type Slot struct {
	grpc.EmptyCallOption
	FD int
}

// NewSlot returns an empty Slot.
func NewSlot() *Slot { return &Slot{FD: -1} }

// ViaGofer is a grpc.CallOption that sends a Write to the gofer even if
// its handle has a donated fd: an O_APPEND write, which, re-sent after a
// server kill, must land once (the gofer's reply cache sees to it; a
// positional write re-sent writes the same bytes at the same place).
type ViaGofer struct{ grpc.EmptyCallOption }

// NotNeeded is a grpc.CallOption of a read-only open (a walk-open) of a
// file whose whole content the server's caches already hold (tar's
// /etc/passwd, opened for every file it extracts): no fd is asked for,
// which saves the gofer an open and the fd's passing and lets the call
// take a call channel; a read the caches cannot answer goes to the
// gofer.
type NotNeeded struct{ grpc.EmptyCallOption }

// SizeOnly is a grpc.CallOption of a Stat whose caller needs only the
// file's size now: a donated fd's statx answers it, which may lack what
// only the gofer adds (set-id bits, a silly-renamed file's link count),
// so an attribute cache must neither answer nor keep it.
type SizeOnly struct{ grpc.EmptyCallOption }

// Lend is a grpc.CallOption of a Stat through which the caller borrows
// the handle's donated fd if it is read-only: FD gets it with a
// reference the caller puts and the Stat is answered as a SizeOnly one;
// otherwise (no donated fd, or one open for writing too) FD stays nil and
// the Stat fails with EBADF. The gofer is not called either way. The server lends such an fd to a client on this
// machine, which reads a mapped file's pages through it (PageRead.want_fd):
// read-only, because the client must not change the file but through
// the server.
type Lend struct {
	grpc.EmptyCallOption
	FD *FD
}

// ReadInto is a grpc.CallOption of a Read: served through a donated fd,
// its bytes are read into Buf (when Buf holds the length asked) and the
// reply's data is Buf's prefix, so that a caller assembling a long read
// from several Reads (vfs.VFS.GoferRead) copies nothing. A Read the gofer
// answers leaves Buf alone.
type ReadInto struct {
	grpc.EmptyCallOption
	Buf []byte
}

// ReadIntoOf returns the buffer of the ReadInto among opts, or nil.
func ReadIntoOf(opts []grpc.CallOption) []byte {
	for _, o := range opts {
		if r, ok := o.(*ReadInto); ok {
			return r.Buf
		}
	}
	return nil
}

// SlotOf returns the Slot among opts, or nil.
func SlotOf(opts []grpc.CallOption) *Slot {
	for _, o := range opts {
		if s, ok := o.(*Slot); ok {
			return s
		}
	}
	return nil
}

// Has says whether opts hold an option of type T (ViaGofer, SizeOnly).
func Has[T grpc.CallOption](opts []grpc.CallOption) bool {
	for _, o := range opts {
		if _, ok := o.(T); ok {
			return true
		}
	}
	return false
}
