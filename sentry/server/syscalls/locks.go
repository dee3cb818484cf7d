package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
)

// lockMand is flock's LOCK_MAND, which Linux ignores.
const lockMand = 32

// sizeofFlock is the size of struct flock (amd64), flockArg.
const sizeofFlock = 32

// flockArg is a struct flock.
type flockArg struct {
	typ, whence int16
	start, len  int64
	pid         int32
}

func parseFlock(b []byte) flockArg {
	return flockArg{
		typ: int16(binary.LittleEndian.Uint16(b[0:])), whence: int16(binary.LittleEndian.Uint16(b[2:])),
		start: int64(binary.LittleEndian.Uint64(b[8:])), len: int64(binary.LittleEndian.Uint64(b[16:])),
		pid: int32(binary.LittleEndian.Uint32(b[24:])),
	}
}

// lockRange turns a struct flock's whence, start and len into [start,
// end) of f.
func lockRange(c *kernel.Task, f *fdesc.File, a flockArg) (uint64, uint64, error) {
	var base int64
	switch a.whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		f.OffMu.Lock()
		base = f.Off
		f.OffMu.Unlock()
	case unix.SEEK_END:
		st, err := StatOf(c, nil, f)
		if err != nil {
			return 0, 0, err
		}
		base = int64(st.Size)
	default:
		return 0, 0, unix.EINVAL
	}
	start := base + a.start
	if (a.start > 0 && start < base) || start < 0 {
		return 0, 0, unix.EINVAL
	}
	switch {
	case a.len == 0:
		return uint64(start), filelock.EOF, nil
	case a.len > 0:
		end := start + a.len
		if end < start {
			return 0, 0, unix.EOVERFLOW
		}
		return uint64(start), uint64(end), nil
	default:
		if start+a.len < 0 {
			return 0, 0, unix.EINVAL
		}
		return uint64(start + a.len), uint64(start), nil
	}
}

// FcntlLock implements F_GETLK, F_SETLK, F_SETLKW and their F_OFD_ forms
// on f.
func FcntlLock(c *kernel.Task, f *fdesc.File, cmd int) (int64, error) {
	b, err := c.Mem.CopyIn(c.Args[2], sizeofFlock)
	if err != nil {
		return 0, err
	}
	if f.IsPath() {
		return 0, unix.EBADF
	}
	a := parseFlock(b)
	ofd := cmd == unix.F_OFD_GETLK || cmd == unix.F_OFD_SETLK || cmd == unix.F_OFD_SETLKW
	if ofd && a.pid != 0 {
		return 0, unix.EINVAL
	}
	if a.typ != unix.F_RDLCK && a.typ != unix.F_WRLCK && a.typ != unix.F_UNLCK {
		return 0, unix.EINVAL
	}
	start, end, err := lockRange(c, f, a)
	if err != nil {
		return 0, err
	}
	ino, ok := kernel.LockIno(f)
	if !ok {
		c.Kernel.LogUnsupportedOnce("fcntl locks on a file outside the gofer's tree")
		return 0, unix.ENOLCK
	}
	owner := filelock.Owner[*fdtable.Table, *fdesc.File]{File: f}
	pid := int32(-1)
	if !ofd {
		tab, err := c.FDTable()
		if err != nil {
			return 0, err
		}
		owner, pid = filelock.Owner[*fdtable.Table, *fdesc.File]{Table: tab}, c.PID()
	}
	lt := c.Kernel.Locks
	if cmd == unix.F_GETLK || cmd == unix.F_OFD_GETLK {
		if a.typ == unix.F_UNLCK {
			return 0, unix.EINVAL
		}
		l, found := lt.Test(ino, owner, a.typ == unix.F_WRLCK, start, end)
		if !found {
			binary.LittleEndian.PutUint16(b[0:], unix.F_UNLCK)
			return 0, c.Mem.CopyOut(c.Args[2], b)
		}
		typ, length := uint16(unix.F_RDLCK), int64(0)
		if l.Write {
			typ = unix.F_WRLCK
		}
		if l.End != filelock.EOF {
			length = int64(l.End - l.Start)
		}
		out := make([]byte, sizeofFlock)
		binary.LittleEndian.PutUint16(out[0:], typ)
		binary.LittleEndian.PutUint16(out[2:], unix.SEEK_SET)
		binary.LittleEndian.PutUint64(out[8:], l.Start)
		binary.LittleEndian.PutUint64(out[16:], uint64(length))
		binary.LittleEndian.PutUint32(out[24:], uint32(l.Pid))
		return 0, c.Mem.CopyOut(c.Args[2], out)
	}
	var nl *filelock.Held[*fdtable.Table, *fdesc.File]
	switch a.typ {
	case unix.F_RDLCK:
		if !f.Readable() {
			return 0, unix.EBADF
		}
		nl = &filelock.Held[*fdtable.Table, *fdesc.File]{Owner: owner, Start: start, End: end, Pid: pid}
	case unix.F_WRLCK:
		if !f.Writable() {
			return 0, unix.EBADF
		}
		nl = &filelock.Held[*fdtable.Table, *fdesc.File]{Owner: owner, Write: true, Start: start, End: end, Pid: pid}
	}
	if ofd {
		f.HasLocks.Store(true)
	}
	var block func(<-chan struct{}) error
	if cmd == unix.F_SETLKW || cmd == unix.F_OFD_SETLKW {
		block = func(ch <-chan struct{}) error { return blockUntil(c, ch) }
	}
	return 0, lt.Lock(ino, owner, false, start, end, nl, block)
}

// Flock implements flock(2).
func Flock(c *kernel.Task) (int64, error) {
	f, err := FileArg(c, 0)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	op := int(c.Args[1])
	if op&lockMand != 0 {
		// Linux ignores the removed LOCK_MAND locks: success.
		c.Kernel.LogUnsupportedOnce("flock LOCK_MAND")
		return 0, nil
	}
	nonblock := op&unix.LOCK_NB != 0
	ino, ok := kernel.LockIno(f)
	if !ok {
		c.Kernel.LogUnsupportedOnce("flock on a file outside the gofer's tree")
		return 0, unix.ENOLCK
	}
	lt := c.Kernel.Locks
	owner := filelock.Owner[*fdtable.Table, *fdesc.File]{File: f}
	switch op &^ unix.LOCK_NB {
	case unix.LOCK_UN:
		return 0, lt.Lock(ino, owner, true, 0, filelock.EOF, nil, nil)
	case unix.LOCK_SH, unix.LOCK_EX:
		f.HasLocks.Store(true)
		nl := &filelock.Held[*fdtable.Table, *fdesc.File]{Owner: owner, Write: op&^unix.LOCK_NB == unix.LOCK_EX, End: filelock.EOF, Pid: -1}
		// A conversion drops the old lock first, as Linux does (it is
		// not atomic).
		lt.DropFlockOfOtherType(ino, owner, nl.Write)
		var block func(<-chan struct{}) error
		if !nonblock {
			block = func(ch <-chan struct{}) error { return blockUntil(c, ch) }
		}
		err := lt.Lock(ino, owner, true, 0, filelock.EOF, nl, block)
		if err == unix.EAGAIN {
			err = unix.EWOULDBLOCK
		}
		return 0, err
	}
	return 0, unix.EINVAL
}

// blockUntil is Block without a timeout: the wait a lock table's blocking
// operation is given (filelock.Table.Lock).
func blockUntil(c *kernel.Task, ch <-chan struct{}) error { return c.Block(ch, nil) }
