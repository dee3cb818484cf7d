package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// close, close_range, dup, dup2, dup3 and fcntl: a process's fd table
// and a description's flags.

// Close is close(2).
//
// A close re-sent after a Restore (kernel.Task.Resent) that names the
// description it was sent for (Syscall.close_file) and finds the fd free,
// or holding another description, was run by the dead server: the fd's
// change is a slot record, which the next message to the client carries,
// whichever thread's reply that is, so it can have reached the client's
// log before the close's own reply, and another thread's open may have
// taken the fd since. It succeeds again without closing anything (run
// again it failed with EBADF, or closed that open's description).
func Close(c *kernel.Task) (int64, error) {
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	fd := ArgInt(c, 0)
	if c.CloseFile != 0 && c.Resent() && closedBefore(c, tab, fd) {
		return 0, nil
	}
	f, err := tab.Remove(fd)
	if err != nil {
		return 0, err
	}
	f.Flush(c.PID())
	f.DecRef()
	return 0, nil
}

// closedBefore says re-sent close c of fd of tab found fd no longer
// holding the description it was sent for (see Close).
func closedBefore(c *kernel.Task, tab *fdtable.Table, fd int32) bool {
	// A description the client knew has its id (one without is not
	// the one the close was sent for).
	f := tab.Entry(fd).File
	return f == nil || f.ID.Load() != c.CloseFile
}

// CloseRange is close_range(2): the fds open in [first, last] (unsigned,
// so ~0U is every fd from first) closed, each as close(2) closes it, or
// with CLOSE_RANGE_CLOEXEC given the close-on-exec flag instead; with
// CLOSE_RANGE_UNSHARE the caller's process first gets a table of its
// own, so that the processes it shared the table with keep their fds
// (EMFILE when the copy would not fit under fs/nr_open, as Linux's
// dup_fd: kernel.Task.UnshareFDTable).
// Each change is its slot's record, as a close's: the client's copy of
// the table and its log follow them before the reply.
func CloseRange(c *kernel.Task) (int64, error) {
	first, last, flags := uint32(c.Args[0]), uint32(c.Args[1]), uint32(c.Args[2])
	if flags&^(linux.CLOSE_RANGE_UNSHARE|linux.CLOSE_RANGE_CLOEXEC) != 0 || first > last {
		return 0, unix.EINVAL
	}
	var tab *fdtable.Table
	var err error
	if flags&linux.CLOSE_RANGE_UNSHARE != 0 {
		tab, err = c.UnshareFDTable(first, last, flags&linux.CLOSE_RANGE_CLOEXEC != 0)
	} else {
		tab, err = c.FDTable()
	}
	if err != nil {
		return 0, err
	}
	if flags&linux.CLOSE_RANGE_CLOEXEC != 0 {
		tab.SetCloexecRange(first, last)
		return 0, nil
	}
	for _, f := range tab.RemoveRange(first, last) {
		keepWriteError(c, f)
		f.Flush(c.PID())
		f.DecRef()
	}
	return 0, nil
}

// keepWriteError keeps the write-behind error a closed description f
// holds on its file (package wberr), for the next fsync of any of the
// file's descriptions: close_range reports no error (Linux ignores what
// each close returns), as a posted close does not (the server's
// posted.go).
func keepWriteError(c *kernel.Task, f *fdesc.File) {
	e := unix.Errno(f.WBErr.Load())
	d := vfs.DentryOf(f)
	if e == 0 || d == nil || d.Kind != vfs.KindGofer {
		return
	}
	if c.Kernel.WbErrs.Keep(d.Ino(), e) {
		c.Kernel.Trk.Changed(kernel.WBErrIno(d.Ino()))
	}
}

// Dup is dup(2).
func Dup(c *kernel.Task) (int64, error) {
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, _, err := tab.Get(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	fd, err := tab.Install(f, 0, false, c.CallSeq)
	return int64(fd), err
}

// Dup2 is dup2(2).
func Dup2(c *kernel.Task) (int64, error) {
	oldfd, newfd := ArgInt(c, 0), ArgInt(c, 1)
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

// Dup3 is dup3(2).
func Dup3(c *kernel.Task) (int64, error) {
	oldfd, newfd, flags := ArgInt(c, 0), ArgInt(c, 1), c.Args[2]
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

func dupTo(c *kernel.Task, tab *fdtable.Table, f *fdesc.File, newfd int32, cloexec bool) (int64, error) {
	old, err := tab.InstallAt(newfd, f, cloexec, false, c.CallSeq)
	if err != nil {
		return 0, err
	}
	if old != nil {
		old.Flush(c.PID())
		old.DecRef()
	}
	return int64(newfd), nil
}

// fileStatusFlags are the flags F_SETFL may change.
const fileStatusFlags = unix.O_APPEND | unix.O_NONBLOCK | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME

const (
	fDupfdCloexec = 1030
	fSetPipeSz    = 1031
	fGetPipeSz    = 1032
	fOFDGetlk     = 36
	fOFDSetlk     = 37
	fOFDSetlkw    = 38
)

// Fcntl implements fcntl. Record locks are accepted without locking
// anything (F_GETLK always reports F_UNLCK): there is one application per
// client, and the gofer has no lock protocol yet.
func Fcntl(c *kernel.Task) (int64, error) {
	fd, cmd := ArgInt(c, 0), int(int32(c.Args[1]))
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
		if min < 0 || min >= fdtable.NrOpenMax {
			return 0, unix.EINVAL // the table's own limit: fdtable's Install
		}
		f.IncRef()
		nfd, err := tab.Install(f, int32(min), cmd == fDupfdCloexec, c.CallSeq)
		return int64(nfd), err
	case unix.F_GETFD:
		if cloexec {
			return unix.FD_CLOEXEC, nil
		}
		return 0, nil
	case unix.F_SETFD:
		return 0, tab.SetCloexec(fd, c.Args[2]&unix.FD_CLOEXEC != 0)
	case unix.F_GETFL:
		// The client answers it alike from the description's record
		// (sentry/client/fdflags.go).
		return int64(sysabi.StatusFlags(f.Flags.Load())), nil
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
		return FcntlLock(c, f, cmd)
	case unix.F_GETPIPE_SZ, fSetPipeSz:
		e, ok := f.Impl.(*kernel.PipeEnd)
		if !ok {
			return 0, unix.EBADF
		}
		return c.PipeSize(e, cmd == fSetPipeSz, c.Args[2])
	case unix.F_GETOWN, unix.F_SETOWN, unix.F_GETOWN_EX, unix.F_SETOWN_EX, unix.F_GETSIG, unix.F_SETSIG:
		return FcntlOwner(c, f, cmd)
	case unix.F_SETLEASE, unix.F_GETLEASE:
		return FcntlLease(c, f, fd, cmd)
	case unix.F_ADD_SEALS, unix.F_GET_SEALS:
		return FcntlSeals(c, f, cmd)
	}
	return 0, unix.EINVAL
}
