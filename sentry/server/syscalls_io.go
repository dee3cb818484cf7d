package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/stdio"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/sysvipc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// maxRW bounds one read or write (the client clamps writes the same way).
const maxRW = sysabi.MaxBuffer

// fileStatusFlags are the flags F_SETFL may change.
const fileStatusFlags = unix.O_APPEND | unix.O_NONBLOCK | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME

// readFile reads up to n bytes from f at off, or at (and advancing) its
// offset when off < 0.
func readFile(c *syscallCtx, f *file, n int, off int64) ([]byte, error) {
	if !f.Readable() {
		return nil, unix.EBADF
	}
	if n < 0 {
		return nil, unix.EINVAL
	}
	n = min(n, maxRW)
	if off >= 0 {
		if f.Impl.Stream() {
			return nil, unix.ESPIPE
		}
		b, err := f.Impl.Read(c, f, n, off)
		if len(b) > 0 {
			inotifyEvent(c.Kernel, vfs.DentryOf(f), inAccess)
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
		inotifyEvent(c.Kernel, vfs.DentryOf(f), inAccess)
	}
	return b, err
}

// writeFile writes b to f at off, or at (and advancing) its offset when
// off < 0. O_APPEND writes at the end, found with a Stat first.
func writeFile(c *syscallCtx, f *file, b []byte, off int64) (int, error) {
	if !f.Writable() {
		return 0, unix.EBADF
	}
	if f.Impl.Stream() {
		if off >= 0 {
			return 0, unix.ESPIPE
		}
		return f.Impl.Write(c, f, b, 0)
	}
	appendMode := f.Flags.Load()&unix.O_APPEND != 0
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

func sysRead(c *syscallCtx) (int64, error)  { return doRead(c, -1) }
func sysPread(c *syscallCtx) (int64, error) { return doRead(c, int64(c.Args[3])) }

func doRead(c *syscallCtx, off int64) (int64, error) {
	if c.Sysno == unix.SYS_PREAD64 && off < 0 {
		return 0, unix.EINVAL
	}
	f, err := c.GetFile(argInt(c, 0))
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
	return int64(len(b)), nil
}

func sysWrite(c *syscallCtx) (int64, error)  { return doWrite(c, -1) }
func sysPwrite(c *syscallCtx) (int64, error) { return doWrite(c, int64(c.Args[3])) }

func doWrite(c *syscallCtx, off int64) (int64, error) {
	if c.Sysno == unix.SYS_PWRITE64 && off < 0 {
		return 0, unix.EINVAL
	}
	f, err := c.GetFile(argInt(c, 0))
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
	b, err := c.Mem.CopyIn(c.Args[1], int(min(n, maxRW)))
	if err != nil {
		return 0, err
	}
	w, err := writeFile(c, f, b, off)
	return int64(w), err
}

// iovecs reads the iovec array of a readv/writev family call and returns
// it with its total length (clamped to maxRW).
func iovecs(c *syscallCtx) ([]sysabi.Iovec, int, error) {
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
func vecOffset(c *syscallCtx) (int64, error) {
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

func sysReadv(c *syscallCtx) (int64, error) {
	f, err := c.GetFile(argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	off, err := vecOffset(c)
	if err != nil {
		return 0, err
	}
	iov, total, err := iovecs(c)
	if err != nil {
		return 0, err
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

func sysWritev(c *syscallCtx) (int64, error) {
	f, err := c.GetFile(argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	off, err := vecOffset(c)
	if err != nil {
		return 0, err
	}
	iov, total, err := iovecs(c)
	if err != nil {
		return 0, err
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
		if !f.Writable() {
			return 0, unix.EBADF
		}
		return 0, nil
	}
	w, err := writeFile(c, f, b, off)
	return int64(w), err
}

func sysLseek(c *syscallCtx) (int64, error) {
	f, err := c.GetFile(argInt(c, 0))
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

func sysClose(c *syscallCtx) (int64, error) {
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, err := tab.Remove(argInt(c, 0))
	if err != nil {
		return 0, err
	}
	f.DecRef()
	return 0, nil
}

func sysDup(c *syscallCtx) (int64, error) {
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, _, err := tab.Get(argInt(c, 0))
	if err != nil {
		return 0, err
	}
	fd, err := tab.Install(f, 0, false)
	return int64(fd), err
}

func sysDup2(c *syscallCtx) (int64, error) {
	oldfd, newfd := argInt(c, 0), argInt(c, 1)
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, _, err := tab.Get(oldfd)
	if err != nil {
		return 0, err
	}
	if oldfd == newfd {
		f.DecRef()
		return int64(newfd), nil
	}
	return dupTo(c, tab, f, newfd, false)
}

func sysDup3(c *syscallCtx) (int64, error) {
	oldfd, newfd, flags := argInt(c, 0), argInt(c, 1), c.Args[2]
	if flags&^unix.O_CLOEXEC != 0 || oldfd == newfd {
		return 0, unix.EINVAL
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, _, err := tab.Get(oldfd)
	if err != nil {
		return 0, err
	}
	return dupTo(c, tab, f, newfd, flags&unix.O_CLOEXEC != 0)
}

func dupTo(c *syscallCtx, tab *fdTable, f *file, newfd int32, cloexec bool) (int64, error) {
	old, err := tab.InstallAt(newfd, f, cloexec, false)
	if err != nil {
		return 0, err
	}
	if old != nil {
		old.DecRef()
	}
	return int64(newfd), nil
}

const (
	fDupfdCloexec = 1030
	fSetPipeSz    = 1031
	fGetPipeSz    = 1032
	fOFDGetlk     = 36
	fOFDSetlk     = 37
	fOFDSetlkw    = 38
)

// sysFcntl implements fcntl. Record locks are accepted without locking
// anything (F_GETLK always reports F_UNLCK): there is one application per
// client, and the gofer has no lock protocol yet.
func sysFcntl(c *syscallCtx) (int64, error) {
	fd, cmd := argInt(c, 0), int(int32(c.Args[1]))
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, cloexec, err := tab.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	switch cmd {
	case unix.F_DUPFD, fDupfdCloexec:
		min := int64(int32(c.Args[2]))
		if min < 0 || min >= fdtable.NrOpen {
			return 0, unix.EINVAL // the table's own limit: fdtable's Install
		}
		f.IncRef()
		nfd, err := tab.Install(f, int32(min), cmd == fDupfdCloexec)
		return int64(nfd), err
	case unix.F_GETFD:
		if cloexec {
			return unix.FD_CLOEXEC, nil
		}
		return 0, nil
	case unix.F_SETFD:
		return 0, tab.SetCloexec(fd, c.Args[2]&unix.FD_CLOEXEC != 0)
	case unix.F_GETFL:
		return int64(f.Flags.Load()) | 0x8000, nil // O_LARGEFILE
	case unix.F_SETFL:
		if f.IsPath() {
			return 0, unix.EBADF
		}
		nf := uint32(c.Args[2]) & fileStatusFlags
		if nf&unix.O_NOATIME != 0 && f.Flags.Load()&unix.O_NOATIME == 0 && vfs.DentryOf(f) != nil &&
			!c.ProcessCreds().OwnerOrCapable(c.Kernel.VFS.AttrsOf(vfs.DentryOf(f))) {
			// Only the owner may stop access-time updates (EPERM).
			return 0, unix.EPERM
		}
		for {
			old := f.Flags.Load()
			if f.Flags.CompareAndSwap(old, old&^fileStatusFlags|nf) {
				break
			}
		}
		c.Kernel.SetAsync(f, fd, nf&unix.O_ASYNC != 0)
		f.Changed()
		return 0, nil
	case unix.F_GETLK, fOFDGetlk, unix.F_SETLK, unix.F_SETLKW, fOFDSetlk, fOFDSetlkw:
		return syscalls.FcntlLock(c, f, cmd)
	case unix.F_GETPIPE_SZ, fSetPipeSz:
		e, ok := f.Impl.(*kernel.PipeEnd)
		if !ok {
			return 0, unix.EBADF
		}
		return c.PipeSize(e, cmd == fSetPipeSz, c.Args[2])
	case unix.F_GETOWN, unix.F_SETOWN, unix.F_GETOWN_EX, unix.F_SETOWN_EX, unix.F_GETSIG, unix.F_SETSIG:
		return syscalls.FcntlOwner(c, f, cmd)
	case unix.F_SETLEASE, unix.F_GETLEASE:
		return syscalls.FcntlLease(c, f, fd, cmd)
	case unix.F_ADD_SEALS, unix.F_GET_SEALS:
		return syscalls.FcntlSeals(c, f, cmd)
	}
	return 0, unix.EINVAL
}

func sysPipe2(c *syscallCtx) (int64, error) {
	flags := uint32(0)
	if c.Sysno == unix.SYS_PIPE2 {
		flags = uint32(c.Args[1])
	}
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT) != 0 {
		return 0, unix.EINVAL
	}
	if c.Args[0] == 0 {
		return 0, unix.EFAULT
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	r, w, err := kernel.NewPipe(c.Kernel.Trk, c.Kernel.Mem)
	if err != nil {
		return 0, err
	}
	if max := c.Kernel.Sysctl.PipeMaxSize(); max < kernel.PipeCapacity && !c.ProcessCreds().Capable(linux.CAP_SYS_RESOURCE) {
		// As Linux: an unprivileged pipe starts no larger than
		// fs/pipe-max-size.
		r.Impl.(*kernel.PipeEnd).P.LimitNewCapacity(max)
	}
	if flags&unix.O_NONBLOCK != 0 {
		r.Flags.Store(r.Flags.Load() | unix.O_NONBLOCK)
		w.Flags.Store(w.Flags.Load() | unix.O_NONBLOCK)
	}
	rfd, wfd, err := tab.InstallPair(r, w, flags&unix.O_CLOEXEC != 0)
	if err != nil {
		return 0, err
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(rfd))
	binary.LittleEndian.PutUint32(b[4:], uint32(wfd))
	if err := c.Mem.CopyOut(c.Args[0], b[:]); err != nil {
		for _, fd := range []int32{rfd, wfd} {
			if f, err := tab.Remove(fd); err == nil {
				f.DecRef()
			}
		}
		return 0, err
	}
	return 0, nil
}

const (
	fionread  = 0x541B
	fionbio   = 0x5421
	fioclex   = 0x5451
	fionclex  = 0x5450
	tiocgpgrp = 0x540F
	tiocspgrp = 0x5410
	tiocgsid  = 0x5429
)

func sysIoctl(c *syscallCtx) (int64, error) {
	fd, req, arg := argInt(c, 0), uint32(c.Args[1]), c.Args[2]
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, _, err := tab.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	if handled, err := syscalls.IfIoctl(c, f, req, arg); handled {
		return 0, err
	}
	switch req {
	case fioclex, fionclex:
		return 0, tab.SetCloexec(fd, req == fioclex)
	case fionbio:
		b, err := c.Mem.CopyIn(arg, 4)
		if err != nil {
			return 0, err
		}
		for {
			old := f.Flags.Load()
			nf := old &^ unix.O_NONBLOCK
			if binary.LittleEndian.Uint32(b) != 0 {
				nf |= unix.O_NONBLOCK
			}
			if f.Flags.CompareAndSwap(old, nf) {
				break
			}
		}
		f.Changed()
		return 0, nil
	case fionread:
		var n int
		switch impl := f.Impl.(type) {
		case *kernel.PipeEnd:
			n = impl.Available()
		case *vfs.GoferFile:
			st, err := impl.Stat(c)
			if err != nil {
				return 0, err
			}
			f.OffMu.Lock()
			n = int(max(int64(st.Size)-f.Off, 0))
			f.OffMu.Unlock()
		case *kernel.StdioFile:
			n = impl.In.Buffered()
		case *devpts.File:
			n = impl.Readable()
		case queuedFile:
			if n, err = impl.Queued(); err != nil {
				return 0, err
			}
		default:
			return 0, unix.ENOTTY
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(min(n, 1<<31-1)))
		return 0, c.Mem.CopyOut(arg, b[:])
	}
	if pf, ok := f.Impl.(*devpts.File); ok {
		return ptyIoctl(c, pf, tab, req, arg)
	}
	s, ok := f.Impl.(*kernel.StdioFile)
	if !ok || !s.Tty {
		return 0, unix.ENOTTY
	}
	k := c.Kernel
	if req == unix.TCSETS || req == unix.TCSETSW || req == unix.TCSETSF {
		b, err := c.Mem.CopyIn(arg, stdio.SizeofTermios)
		if err != nil {
			return 0, err
		}
		k.Mu.Lock()
		s.Term.Termios = b
		k.Mu.Unlock()
		// The host terminal gets the modes too (the client applies
		// them): its line discipline is the one the application sees.
		k.Out.Push(&sentrypb.Push{Msg: &sentrypb.Push_TtyModes{TtyModes: &sentrypb.TtyModes{StdioSet: s.Set, Termios: b}}})
		return 0, nil
	}
	k.Mu.Lock()
	defer k.Mu.Unlock()
	switch req {
	case unix.TCGETS:
		return 0, c.Mem.CopyOut(arg, s.Term.Termios)
	case unix.TIOCGWINSZ:
		return 0, c.Mem.CopyOut(arg, s.Term.Winsize)
	case unix.TIOCSWINSZ:
		b, err := c.Mem.CopyIn(arg, stdio.SizeofWinsize)
		if err != nil {
			return 0, err
		}
		s.Term.Winsize = b
		return 0, nil
	case tiocgpgrp:
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(s.Term.FgPgrp))
		return 0, c.Mem.CopyOut(arg, b[:])
	case tiocspgrp:
		b, err := c.Mem.CopyIn(arg, 4)
		if err != nil {
			return 0, err
		}
		pg := int32(binary.LittleEndian.Uint32(b))
		if pg <= 0 {
			return 0, unix.EINVAL
		}
		if len(k.ProcessGroupLocked(pg)) == 0 {
			return 0, unix.ESRCH
		}
		s.Term.FgPgrp = pg
		k.MarkTTYLeaderLocked(s)
		return 0, nil
	case tiocgsid:
		var b [4]byte
		sid := int32(1)
		if k.Init != nil {
			sid = k.Init.SID
		}
		if s.Set != 0 {
			sid = s.Term.Sid
		}
		binary.LittleEndian.PutUint32(b[:], uint32(sid))
		return 0, c.Mem.CopyOut(arg, b[:])
	}
	return 0, unix.ENOTTY
}

func sysFsync(c *syscallCtx) (int64, error) {
	f, err := c.GetFile(argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	h, ok := vfs.HandleOfFile(f)
	if !ok {
		return 0, unix.EINVAL
	}
	// Writes this client made through f become durable: tell the client
	// (before this call's reply) so that it drops them from its log. So do
	// the write-backs of its shared mappings of the same file (PageWrite
	// goes through the mapping's own description): the fsync of one
	// handle syncs the inode.
	files := []*file{f}
	if vfs.DentryOf(f) != nil && vfs.DentryOf(f).Kind == vfs.KindGofer {
		for _, wf := range c.Kernel.Maps.WritablesOf(vfs.DentryOf(f).Ino()) {
			defer wf.DecRef()
			if wf != f {
				files = append(files, wf)
			}
		}
	}
	seqs := make([][]uint64, len(files))
	for i, g := range files {
		seqs[i] = c.Kernel.Dur.StartSync(g)
	}
	err = c.Kernel.VFS.Fsync(h, c.Sysno == unix.SYS_FDATASYNC)
	for i, g := range files {
		if len(seqs[i]) > 0 {
			c.Kernel.Dur.EndSync(g, seqs[i], err == nil)
			announceDurable(c.Kernel, g)
		}
	}
	return 0, err
}

func sysSync(c *syscallCtx) (int64, error) {
	if c.Sysno == unix.SYS_SYNCFS {
		f, err := c.GetFile(argInt(c, 0))
		if err != nil {
			return 0, err
		}
		f.DecRef()
	}
	// Every file this client wrote becomes durable (and the client is
	// told so before the reply).
	flushAll(c.Kernel)
	v := c.Kernel.VFS
	h, err := c.HandleOf(v.Root)
	if err != nil {
		return 0, err
	}
	// sync and syncfs cannot fail on Linux (syncfs reports writeback
	// errors); a gofer error is logged, not returned.
	if err := v.Fsync(h, false); err != nil {
		c.Kernel.Log.Debug("sync", "err", err)
	}
	return 0, nil
}

func sysFadvise(c *syscallCtx) (int64, error) {
	f, err := c.GetFile(argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.Impl.Stream() {
		return 0, unix.ESPIPE
	}
	if int64(c.Args[2]) < 0 || c.Args[3] > 5 {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// sysGetdents64 lists a directory: "." and ".." first, then the entries.
func sysGetdents64(c *syscallCtx) (int64, error) {
	f, err := c.GetFile(argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	d := vfs.DentryOf(f)
	if d == nil || !d.IsDir() {
		return 0, unix.ENOTDIR
	}
	count := int(min(uint64(c.Args[2]), 1<<20))
	if c.Args[1] == 0 {
		return 0, unix.EFAULT
	}
	v := c.Kernel.VFS
	f.OffMu.Lock()
	defer f.OffMu.Unlock()
	var buf []byte
	pending := false // an entry did not fit
	emit := func(name string, ino uint64, typ uint8, off uint64) bool {
		reclen := (19 + len(name) + 1 + 7) &^ 7
		if len(buf)+reclen > count {
			pending = true
			return false
		}
		rec := make([]byte, reclen)
		binary.LittleEndian.PutUint64(rec[0:], ino)
		binary.LittleEndian.PutUint64(rec[8:], off)
		binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
		rec[18] = typ
		copy(rec[19:], name)
		buf = append(buf, rec...)
		return true
	}
	cur := &f.Dir
	if cur.Phase == 0 {
		if !emit(".", d.Ino(), unix.DT_DIR, 1) {
			return 0, unix.EINVAL
		}
		cur.Phase = 1
	}
	if cur.Phase == 1 {
		if emit("..", v.ParentOf(d).Ino(), unix.DT_DIR, 2) {
			cur.Phase = 2
		}
	}
	if cur.Phase == 2 && !pending {
		if g, ok := f.Impl.(*vfs.GoferDir); ok {
			// SysV segments' files are not listed in /dev/shm.
			shm, _ := v.ShmIfMade()
			inShm := d == shm
		rpc:
			for !cur.EOF {
				ctx, cancel := v.RPCCtx()
				r, seq, err := c.Kernel.Attrs.GetdentsSeq(ctx, &goferpb.GetdentsRequest{Dir: g.Handle, Offset: cur.Cookie, Count: 256, Plus: true})
				cancel()
				if err == nil && r.GetErrno() == 0 {
					// The entries' dentries and attributes: a stat of
					// each (ls -l, find) needs no Walk nor Stat.
					v.NoteListing(d, r.Entries, r.Stats, seq)
				}
				if err := syserr.FromGofer("getdents", r.GetErrno(), err); err != nil {
					if len(buf) > 0 {
						break
					}
					return 0, err
				}
				if len(r.Entries) == 0 {
					cur.EOF = true
					break
				}
				for _, e := range r.Entries {
					if e.Name != "." && e.Name != ".." && e.Name != "" && !(inShm && sysvipc.IsSegmentFile(e.Name)) {
						if !emit(e.Name, e.Ino, uint8(e.Type), uint64(fdesc.CookieOffset(e.Offset))) {
							break rpc
						}
					}
					cur.Cookie = e.Offset
				}
				if r.Eof {
					cur.EOF = true // every entry emitted, and no more
				}
			}
		} else {
			ents := c.Kernel.Synth.List(d)
			for i := int(cur.Cookie); i < len(ents); i++ {
				e := ents[i]
				if !emit(e.Name, e.Ino, e.Type, uint64(i)+3) {
					break
				}
				cur.Cookie = uint64(i) + 1
			}
		}
	}
	f.SetDirLocked(c, *cur)
	if len(buf) == 0 && pending {
		return 0, unix.EINVAL
	}
	if c.Reply != nil {
		// Every later getdents64 returns 0 until an lseek.
		c.Reply.ListingEof = cur.EOF && !pending
	}
	if err := c.Mem.CopyOut(c.Args[1], buf); err != nil {
		return 0, err
	}
	return int64(len(buf)), nil
}

const (
	mapShared  = 0x1
	mapPrivate = 0x2
	mapAnon    = 0x20
)

// sysMmap plans a file mapping; the client maps and faults it in.
func sysMmap(c *syscallCtx) (int64, error) {
	length, prot, flags, fd, off := c.Args[1], c.Args[2], c.Args[3], argInt(c, 4), c.Args[5]
	if flags&mapAnon != 0 {
		return 0, unix.EINVAL
	}
	// Linux looks the fd up first: a bad fd is EBADF whatever the rest.
	f, err := c.GetFile(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if length == 0 || off&0xfff != 0 || int64(off) < 0 {
		return 0, unix.EINVAL
	}
	typ := flags & 0xf
	if typ != mapShared && typ != mapPrivate && typ != 0x3 {
		return 0, unix.EINVAL
	}
	if f.IsPath() {
		return 0, unix.EBADF
	}
	_, isGofer := f.Impl.(*vfs.GoferFile)
	dz, isDev := f.Impl.(*vfs.DevFile)
	isZero := isDev && dz.Kind == vfs.DevZero
	if !isGofer && !isZero {
		return 0, unix.ENODEV
	}
	if !f.Readable() {
		return 0, unix.EACCES
	}
	if isZero {
		if typ != mapPrivate && prot&unix.PROT_WRITE != 0 && !f.Writable() {
			return 0, unix.EACCES
		}
		c.Reply.Action = &sentrypb.Reply_Mmap{Mmap: &sentrypb.MmapPlan{Anonymous: true, Writable: f.Writable()}}
		return 0, nil
	}
	g := f.Impl.(*vfs.GoferFile)
	if typ != mapPrivate && prot&unix.PROT_WRITE != 0 && !f.Writable() {
		return 0, unix.EACCES
	}
	writable := f.Writable()
	if g.Memfd != nil && typ != mapPrivate && g.Memfd.Seals()&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		// A write-sealed memfd maps shared read-only, and stays so
		// (the client refuses mprotect to writable, as Linux clears
		// VM_MAYWRITE).
		if prot&unix.PROT_WRITE != 0 {
			return 0, unix.EPERM
		}
		writable = false
	}
	st, err := g.Stat(c)
	if err != nil {
		return 0, err
	}
	f.IncRef()
	id := c.Kernel.Maps.Add(f, kernel.MappedKey(st), typ != mapPrivate && writable)
	c.Reply.Action = &sentrypb.Reply_Mmap{Mmap: &sentrypb.MmapPlan{FileId: id, FileSize: st.Size, Writable: writable}}
	return 0, nil
}
