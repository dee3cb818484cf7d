package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/lease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// fcntl's commands of a description's owner, I/O signal and lease
// (F_SETOWN, F_SETOWN_EX, F_SETSIG, F_SETLEASE and their F_GET forms),
// over package kernel's (async.go: the signals, the O_ASYNC watcher and
// the lease breaks).

// struct f_owner_ex's types.
const (
	fOwnerTID  = fdesc.OwnerTID
	fOwnerPID  = fdesc.OwnerPID
	fOwnerPGRP = fdesc.OwnerPGRP
)

// FcntlOwner serves F_GETOWN, F_SETOWN, F_GETOWN_EX, F_SETOWN_EX,
// F_GETSIG and F_SETSIG.
func FcntlOwner(c *kernel.Task, f *fdesc.File, cmd int) (int64, error) {
	switch cmd {
	case unix.F_GETOWN:
		typ, id, _ := f.Async.Owner()
		if typ == fOwnerPGRP {
			return int64(-id), nil
		}
		return int64(id), nil
	case unix.F_SETOWN:
		arg := int32(c.Args[2])
		typ, id := int32(fOwnerPID), arg
		if arg < 0 {
			if arg == -1<<31 {
				return 0, unix.EINVAL
			}
			typ, id = fOwnerPGRP, -arg
		}
		return 0, setOwner(c, f, typ, id)
	case unix.F_GETOWN_EX:
		typ, id, _ := f.Async.Owner()
		var b [8]byte
		binary.LittleEndian.PutUint32(b[0:], uint32(typ))
		binary.LittleEndian.PutUint32(b[4:], uint32(id))
		return 0, c.Mem.CopyOut(c.Args[2], b[:])
	case unix.F_SETOWN_EX:
		b, err := c.Mem.CopyIn(c.Args[2], 8)
		if err != nil {
			return 0, err
		}
		typ, id := int32(binary.LittleEndian.Uint32(b[0:])), int32(binary.LittleEndian.Uint32(b[4:]))
		if typ < fOwnerTID || typ > fOwnerPGRP {
			return 0, unix.EINVAL
		}
		return 0, setOwner(c, f, typ, id)
	case unix.F_GETSIG:
		_, _, sig := f.Async.Owner()
		return int64(sig), nil
	case unix.F_SETSIG:
		sig := int64(c.Args[2])
		if sig < 0 || sig > ksignal.NumSignals {
			return 0, unix.EINVAL
		}
		f.Async.SetSig(int32(sig))
		f.Changed()
		return 0, nil
	}
	return 0, unix.EINVAL
}

// setOwner sets f's owner (id 0: none; else it must exist: ESRCH).
func setOwner(c *kernel.Task, f *fdesc.File, typ, id int32) error {
	if id != 0 {
		c.Kernel.Mu.Lock()
		ok := c.Kernel.OwnerExistsLocked(typ, id)
		c.Kernel.Mu.Unlock()
		if !ok {
			return unix.ESRCH
		}
	}
	f.Async.SetOwner(typ, id)
	f.Changed()
	return nil
}

// FcntlLease serves F_SETLEASE and F_GETLEASE on fd.
func FcntlLease(c *kernel.Task, f *fdesc.File, fd int32, cmd int) (int64, error) {
	ino, ok := kernel.LeaseIno(f)
	if !ok {
		return 0, unix.EINVAL
	}
	lt := c.Kernel.Leases
	if cmd == unix.F_GETLEASE {
		return int64(lt.Get(ino, f).FcntlType()), nil
	}
	rank, ok := lease.RankOfType(int32(c.Args[2]))
	if !ok {
		return 0, unix.EINVAL
	}
	if rank == lease.None {
		if !lt.Release(ino, f) {
			return 0, unix.EAGAIN
		}
		f.Changed()
		return 0, nil
	}
	if cr := c.ProcessCreds(); !cr.OwnerOrCapable(c.Kernel.VFS.AttrsOf(vfs.DentryOf(f))) {
		return 0, unix.EACCES
	}
	if rank == lease.Read && f.Writable() {
		return 0, unix.EAGAIN
	}
	readers, writers := c.Kernel.OpenCounts(ino, f)
	if err := lt.Set(ino, f, rank, fd, readers, writers); err != nil {
		return 0, err
	}
	f.HasLease.Store(true)
	// As Linux, taking a lease makes the caller's process the owner its
	// break signal goes to.
	f.Async.SetOwner(fOwnerPID, c.PID())
	f.Changed()
	return 0, nil
}
