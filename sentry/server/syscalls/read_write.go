package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// read, write and their vector and positional forms, and lseek: a
// description's I/O at its offset or at one given.

// ioModeErr is what Linux's I/O calls check of a description before
// their buffers: ESPIPE for an offset (off >= 0) on a file that has none
// (a positional call on a pipe's end of either direction), then EBADF for
// a description not open for the call's direction (write or read).
func ioModeErr(f *fdesc.File, write bool, off int64) error {
	_, seq := f.Impl.(fdesc.SeqFile) // kernel objects: streams (seqIO)
	if off >= 0 && (seq || f.Impl.Stream()) {
		return unix.ESPIPE
	}
	if write && !f.Writable() || !write && !f.Readable() {
		return unix.EBADF
	}
	return nil
}

// readFile reads up to n bytes from f at off, or at (and advancing) its
// offset when off < 0.
func readFile(c *kernel.Task, f *fdesc.File, n int, off int64) ([]byte, error) {
	if err := ioModeErr(f, false, off); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, unix.EINVAL
	}
	n = min(n, maxRW)
	if off >= 0 {
		b, err := f.Impl.Read(c, f, n, off)
		if len(b) > 0 {
			c.Kernel.InotifyEvent(vfs.DentryOf(f), linux.IN_ACCESS)
		}
		return b, err
	}
	if f.Impl.Stream() {
		return f.Impl.Read(c, f, n, 0)
	}
	f.OffMu.Lock()
	defer f.OffMu.Unlock()
	b, err := f.Impl.Read(c, f, n, f.Off)
	if len(b) > 0 {
		f.SetOffLocked(c, f.Off+int64(len(b)))
		c.Kernel.InotifyEvent(vfs.DentryOf(f), linux.IN_ACCESS)
	}
	return b, err
}

// writeFile writes b to f at off, or at (and advancing) its offset when
// off < 0. O_APPEND writes at the end, found with a Stat first.
func writeFile(c *kernel.Task, f *fdesc.File, b []byte, off int64) (int, error) {
	return writeFileMode(c, f, b, off, f.Flags.Load()&unix.O_APPEND != 0)
}

// writeFileMode is writeFile, writing at the end if appendMode (the
// description's O_APPEND, or pwritev2's RWF_APPEND) whatever off says:
// a positional write (off >= 0) leaves the offset where it was.
func writeFileMode(c *kernel.Task, f *fdesc.File, b []byte, off int64, appendMode bool) (int, error) {
	if err := ioModeErr(f, true, off); err != nil {
		return 0, err
	}
	if f.Impl.Stream() {
		return f.Impl.Write(c, f, b, 0)
	}
	if off >= 0 && !appendMode {
		m, err := c.FileSizeCheck(vfs.DentryOf(f), off, len(b), false)
		if err != nil {
			return 0, err
		}
		n, _, err := c.WriteAt(f, b[:m], off, false)
		return n, err
	}
	f.OffMu.Lock()
	defer f.OffMu.Unlock()
	o := f.Off
	if appendMode {
		if d := vfs.DentryOf(f); d != nil {
			// The end found and written at as one (AppendLock).
			mu := c.Kernel.VFS.AppendLock(d)
			mu.Lock()
			defer mu.Unlock()
		}
		var st *goferpb.Stat
		var err error
		if g, ok := f.Impl.(*vfs.GoferFile); ok {
			// The end of the file now, not as cached: another server
			// sharing the gofer may have appended.
			st, err = g.VFS().GoferSizeNow(g.Handle)
		} else {
			st, err = f.Impl.Stat(c)
		}
		if err != nil {
			return 0, err
		}
		o = int64(st.Size)
	}
	m, err := c.FileSizeCheck(vfs.DentryOf(f), o, len(b), false)
	if err != nil {
		return 0, err
	}
	n, o, err := c.WriteAt(f, b[:m], o, appendMode)
	if off < 0 && n > 0 {
		f.SetOffLocked(c, o+int64(n))
	}
	return n, err
}

// Read is read(2), Pread pread64(2).
func Read(c *kernel.Task) (int64, error) { return doRead(c, -1) }

func Pread(c *kernel.Task) (int64, error) { return doRead(c, int64(c.Args[3])) }

func doRead(c *kernel.Task, off int64) (int64, error) {
	if c.Sysno == unix.SYS_PREAD64 && off < 0 {
		return 0, unix.EINVAL
	}
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	n := int64(c.Args[2])
	if n < 0 {
		return 0, unix.EINVAL
	}
	if n > 0 && c.Args[1] == 0 {
		return 0, unix.EFAULT
	}
	if c.PipeConsumed {
		return consumeAhead(c, f, n, off)
	}
	if sf, ok := f.Impl.(fdesc.SeqFile); ok {
		return seqIO(c, f, sf, false, []sysabi.Iovec{{Base: c.Args[1], Len: uint64(min(n, maxRW))}}, off)
	}
	b, err := readFile(c, f, int(min(n, maxRW)), off)
	if err != nil {
		return 0, err
	}
	if err := c.Mem.CopyOut(c.Args[1], b); err != nil {
		return 0, err
	}
	notePipeAhead(c, f)
	return int64(len(b)), nil
}

// Write is write(2), Pwrite pwrite64(2).
func Write(c *kernel.Task) (int64, error) { return doWrite(c, -1) }

func Pwrite(c *kernel.Task) (int64, error) { return doWrite(c, int64(c.Args[3])) }

func doWrite(c *kernel.Task, off int64) (int64, error) {
	if c.Sysno == unix.SYS_PWRITE64 && off < 0 {
		return 0, unix.EINVAL
	}
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	n := int64(c.Args[2])
	if n < 0 {
		return 0, unix.EINVAL
	}
	if sf, ok := f.Impl.(fdesc.SeqFile); ok {
		return seqIO(c, f, sf, true, []sysabi.Iovec{{Base: c.Args[1], Len: uint64(min(n, maxRW))}}, off)
	}
	copyIn := c.Mem.CopyIn
	if _, ok := f.Impl.(*vfs.GoferFile); ok {
		// The gofer's write (or the donated fd's) only reads them.
		copyIn = c.Mem.CopyInView
	}
	b, err := copyIn(c.Args[1], int(min(n, maxRW)))
	if err != nil {
		return 0, err
	}
	w, err := writeFile(c, f, b, off)
	notePipeRoom(c, f)
	return int64(w), err
}

// Iovecs reads the iovec array of a readv/writev family call and returns
// it with its total length (clamped to maxRW).
func Iovecs(c *kernel.Task) ([]sysabi.Iovec, int, error) {
	cnt := int64(c.Args[2])
	if cnt < 0 || cnt > sysabi.MaxIovecs {
		return nil, 0, unix.EINVAL
	}
	iov, err := c.Mem.CopyInIovecs(c.Args[1], int(cnt))
	if err != nil {
		return nil, 0, err
	}
	total := 0
	for i := range iov {
		if int64(iov[i].Len) < 0 {
			return nil, 0, unix.EINVAL
		}
		if uint64(total)+iov[i].Len > maxRW {
			iov[i].Len = uint64(maxRW - total)
		}
		total += int(iov[i].Len)
	}
	return iov, total, nil
}

// vecOffset returns the offset argument of preadv/pwritev(2), or -1.
func vecOffset(c *kernel.Task) (int64, error) {
	switch c.Sysno {
	case unix.SYS_PREADV, unix.SYS_PWRITEV:
		if int64(c.Args[3]) < 0 {
			return 0, unix.EINVAL
		}
		return int64(c.Args[3]), nil
	case unix.SYS_PREADV2, unix.SYS_PWRITEV2:
		if int64(c.Args[3]) < -1 {
			return 0, unix.EINVAL
		}
		return int64(c.Args[3]), nil
	}
	return -1, nil
}

// rwfReadWrite are the RWF_* flags of preadv2 and pwritev2 taken here
// with their meaning or, for a read, ignored as Linux ignores them:
// RWF_HIPRI (a polling hint), RWF_DSYNC and RWF_SYNC (a write made
// durable before the reply), RWF_APPEND and RWF_NOAPPEND (a write at the
// end, or at the offset given, whatever O_APPEND says), RWF_NOSIGNAL (no
// SIGPIPE for a write to a pipe or socket without a reader).
const rwfReadWrite = unix.RWF_HIPRI | unix.RWF_DSYNC | unix.RWF_SYNC | unix.RWF_APPEND | unix.RWF_NOAPPEND | unix.RWF_NOSIGNAL

// vecFlags returns the RWF_* flags of preadv2 or pwritev2 call c (0 for
// the other vector calls, and for a call of no bytes, which Linux
// answers before it looks at them) once they pass Linux's checks for
// file f (kiocb_set_rw_flags): EOPNOTSUPP for a flag it does not know,
// EINVAL for RWF_APPEND with RWF_NOAPPEND, and EOPNOTSUPP, as for a file
// that offers none of them, for RWF_NOWAIT (no file here can tell that
// the call would not block: the server's own wait, the gofer's read),
// RWF_ATOMIC, RWF_DONTCACHE of a file that is not regular (of a regular
// one it is a hint, taken as one) and RWF_NOAPPEND of an O_APPEND
// description (the gofer's file is open O_APPEND: it cannot write
// elsewhere).
func vecFlags(c *kernel.Task, f *fdesc.File, write bool, total int) (uint32, error) {
	if c.Sysno != unix.SYS_PREADV2 && c.Sysno != unix.SYS_PWRITEV2 || total == 0 {
		return 0, nil
	}
	flags := uint32(c.Args[5])
	d := vfs.DentryOf(f)
	switch {
	case flags&^unix.RWF_SUPPORTED != 0:
		return 0, unix.EOPNOTSUPP
	case flags&(unix.RWF_APPEND|unix.RWF_NOAPPEND) == unix.RWF_APPEND|unix.RWF_NOAPPEND:
		return 0, unix.EINVAL
	case flags&(unix.RWF_NOWAIT|unix.RWF_ATOMIC) != 0:
		return 0, unix.EOPNOTSUPP
	case flags&unix.RWF_DONTCACHE != 0 && (d == nil || !d.IsRegular()):
		return 0, unix.EOPNOTSUPP
	case write && flags&unix.RWF_NOAPPEND != 0 && f.Flags.Load()&unix.O_APPEND != 0:
		return 0, unix.EOPNOTSUPP
	}
	return flags & rwfReadWrite, nil
}

// Readv is readv(2), preadv(2) and preadv2(2).
func Readv(c *kernel.Task) (int64, error) {
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	off, err := vecOffset(c)
	if err != nil {
		return 0, err
	}
	if err := ioModeErr(f, false, off); err != nil {
		return 0, err
	}
	iov, total, err := Iovecs(c)
	if err != nil {
		return 0, err
	}
	if _, err := vecFlags(c, f, false, total); err != nil {
		return 0, err // a read's own flags change nothing it does
	}
	if sf, ok := f.Impl.(fdesc.SeqFile); ok {
		return seqIO(c, f, sf, false, iov, off)
	}
	b, err := readFile(c, f, total, off)
	if err != nil {
		return 0, err
	}
	n := len(b)
	for _, v := range iov {
		if len(b) == 0 {
			break
		}
		m := min(int(v.Len), len(b))
		if err := c.Mem.CopyOut(v.Base, b[:m]); err != nil {
			return 0, err
		}
		b = b[m:]
	}
	return int64(n), nil
}

// Writev is writev(2), pwritev(2) and pwritev2(2).
func Writev(c *kernel.Task) (int64, error) {
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	off, err := vecOffset(c)
	if err != nil {
		return 0, err
	}
	if err := ioModeErr(f, true, off); err != nil {
		return 0, err
	}
	iov, total, err := Iovecs(c)
	if err != nil {
		return 0, err
	}
	flags, err := vecFlags(c, f, true, total)
	if err != nil {
		return 0, err
	}
	if flags&unix.RWF_NOSIGNAL != 0 {
		// As MSG_NOSIGNAL: EPIPE alone.
		defer func() { c.RaisedSIGPIPE = false }()
	}
	if sf, ok := f.Impl.(fdesc.SeqFile); ok {
		return seqIO(c, f, sf, true, iov, off)
	}
	b := make([]byte, 0, total)
	for _, v := range iov {
		p, err := c.Mem.CopyIn(v.Base, int(v.Len))
		if err != nil {
			return 0, err
		}
		b = append(b, p...)
	}
	if len(b) == 0 {
		return 0, nil
	}
	appendMode := f.Flags.Load()&unix.O_APPEND != 0 || flags&unix.RWF_APPEND != 0
	w, err := writeFileMode(c, f, b, off, appendMode)
	notePipeRoom(c, f)
	if g, ok := f.Impl.(*vfs.GoferFile); ok && flags&(unix.RWF_DSYNC|unix.RWF_SYNC) != 0 && w > 0 && err == nil {
		// Durable before the reply, as after fdatasync (fsync for
		// RWF_SYNC): Linux's generic_write_sync of the range. The
		// writes before it leave the client's log now; this one, whose
		// record goes with the reply, at the flusher's next Durable (a
		// Durable covers only writes whose records were sent: kernel's
		// durable.go).
		if err := syncFile(c, f, g.Handle, flags&unix.RWF_SYNC == 0); err != nil {
			return 0, err
		}
	}
	return int64(w), err
}

// Lseek is lseek(2).
func Lseek(c *kernel.Task) (int64, error) {
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.Impl.Stream() {
		return 0, unix.ESPIPE
	}
	if f.IsPath() {
		return 0, unix.EBADF
	}
	off, whence := int64(c.Args[1]), int(c.Args[2])
	f.OffMu.Lock()
	defer f.OffMu.Unlock()
	if _, isDir := f.Impl.(*vfs.GoferDir); isDir || (vfs.DentryOf(f) != nil && vfs.DentryOf(f).IsDir()) {
		if whence != unix.SEEK_SET || off < 0 {
			return 0, unix.EINVAL
		}
		f.Off = off
		f.SetDirLocked(c, fdesc.DirCursorAt(off))
		return off, nil
	}
	if g, ok := f.Impl.(*vfs.GoferFile); ok && (whence == unix.SEEK_DATA || whence == unix.SEEK_HOLE) {
		// The host file's data and holes, as its file system keeps them.
		if n, known, err := g.VFS().GoferSeek(g.Handle, off, whence); known {
			if err != nil {
				return 0, err
			}
			f.SetOffLocked(c, n)
			return n, nil
		}
	}
	var n int64
	switch whence {
	case unix.SEEK_SET:
		n = off
	case unix.SEEK_CUR:
		n = f.Off + off
	case unix.SEEK_END, unix.SEEK_DATA, unix.SEEK_HOLE:
		st, err := f.Impl.Stat(c)
		if err != nil {
			return 0, err
		}
		size := int64(st.Size)
		switch whence {
		case unix.SEEK_END:
			n = size + off
		case unix.SEEK_DATA:
			// All data, as Linux's generic_file_llseek_size (ENXIO
			// for a negative offset too).
			if off < 0 || off >= size {
				return 0, unix.ENXIO
			}
			n = off
		case unix.SEEK_HOLE:
			if off < 0 || off >= size {
				return 0, unix.ENXIO
			}
			n = size
		}
	default:
		return 0, unix.EINVAL
	}
	if n < 0 {
		return 0, unix.EINVAL
	}
	f.SetOffLocked(c, n)
	return n, nil
}

// seqIO runs read(v)/write(v) of f, a fdesc.SeqFile, on the buffers iov.
func seqIO(c *kernel.Task, f *fdesc.File, sf fdesc.SeqFile, write bool, iov []sysabi.Iovec, off int64) (int64, error) {
	if off >= 0 {
		return 0, unix.ESPIPE
	}
	if (write && !f.Writable()) || (!write && !f.Readable()) {
		return 0, unix.EBADF
	}
	seq, err := kobj.Sequence(c.Mem, iov)
	if err != nil {
		return 0, err
	}
	sb, behind := sf.(sendBehindFile)
	var n int64
	switch {
	case write && behind && c.Posted:
		n, err = sb.WritePosted(c, f, seq, 0)
	case write:
		n, err = sf.WriteSeq(c, f, seq)
	default:
		n, err = sf.ReadSeq(c, f, seq)
	}
	if behind && c.Reply != nil {
		c.Reply.SendRoom = sb.SendRoom()
	}
	return n, err
}

// sendBehindFile is a socket that takes posted writes without blocking
// within the room it reports (inet.File: sendbehind.go).
type sendBehindFile interface {
	WritePosted(c fdesc.Call, f *fdesc.File, src usermem.IOSequence, flags int) (int64, error)
	SendRoom() uint64
}
