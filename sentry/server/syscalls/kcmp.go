package syscalls

import (
	"encoding/binary"
	"math"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// kcmpFile is kcmp(2)'s KCMP_FILE (linux/kcmp.h). It and
// sysabi.KcmpEpollTFD name files by fd; the other types are
// kernel.KcmpKind.
const kcmpFile = 0

// Kcmp implements kcmp(2): whether two tasks share a kernel object. The
// objects are ordered by their replay ids, which are never reused and
// survive a recovery, so that the answer is 0 for the same object and
// otherwise 1 or 2 (less or greater) consistently for the life of the
// objects, as Linux orders its obfuscated pointers. As Linux, the tasks
// are looked up (ESRCH) and the caller's access to both checked (EPERM)
// before the type (EINVAL).
func Kcmp(c *kernel.Task) (int64, error) {
	typ, idx1, idx2 := ArgInt(c, 2), c.Args[3], c.Args[4]
	k := c.Kernel
	k.Mu.Lock()
	t1, t2, err := kcmpTasksLocked(c, ArgInt(c, 0), ArgInt(c, 1))
	if err != nil {
		k.Mu.Unlock()
		return 0, err
	}
	switch typ {
	case kcmpFile:
		f1, f2 := kcmpFileLocked(t1, idx1), kcmpFileLocked(t2, idx2)
		k.Mu.Unlock()
		if f1 == nil || f2 == nil {
			return 0, unix.EBADF
		}
		return kcmpOrder(k.FileID(f1), k.FileID(f2)), nil
	case sysabi.KcmpEpollTFD:
		f1 := kcmpFileLocked(t1, idx1)
		var tab *fdtable.Table
		if !kernel.TaskGoneLocked(t2) {
			tab = t2.Proc.FDs
		}
		k.Mu.Unlock()
		return kcmpEpollTarget(c, f1, tab, idx2)
	case int32(kernel.KcmpVM), int32(kernel.KcmpFiles), int32(kernel.KcmpFS), int32(kernel.KcmpSighand),
		int32(kernel.KcmpIO), int32(kernel.KcmpSysvsem):
		kind := kernel.KcmpKind(typ)
		id1, id2 := k.KcmpObjectIDLocked(t1, kind), k.KcmpObjectIDLocked(t2, kind)
		k.Mu.Unlock()
		return kcmpOrder(id1, id2), nil
	}
	k.Mu.Unlock()
	return 0, unix.EINVAL
}

// kcmpTasksLocked finds the tasks (threads, by TID) pid1 and pid2 and
// checks that the caller may inspect both (Linux's
// PTRACE_MODE_READ_REALCREDS). A thread that exited is gone at once
// (ESRCH); a leader that exited stays until its process is reaped, as
// Linux's zombie task. Precondition: the kernel lock is held.
func kcmpTasksLocked(c *kernel.Task, pid1, pid2 int32) (*kernel.Thread, *kernel.Thread, error) {
	find := func(tid int32) *kernel.Thread {
		t := c.Kernel.Threads[tid]
		if t == nil || (t.Killed && t.TID != t.Proc.PID) {
			return nil
		}
		return t
	}
	t1, t2 := find(pid1), find(pid2)
	if t1 == nil || t2 == nil {
		return nil, nil, unix.ESRCH
	}
	caller := c.Thread.Proc
	if !kernel.MayInspectLocked(caller, t1.Proc) || !kernel.MayInspectLocked(caller, t2.Proc) {
		return nil, nil, unix.EPERM
	}
	return t1, t2, nil
}

// kcmpFileLocked is the description at fd idx of t's fd table (O_PATH
// ones included, as Linux's raw lookup), nil if there is none. As
// Linux's lookup takes an unsigned int, idx's high 32 bits are ignored.
// It only identifies the description: no reference is taken.
// Precondition: the kernel lock is held (the table stays t's).
func kcmpFileLocked(t *kernel.Thread, idx uint64) *fdesc.File {
	fd := uint32(idx)
	if kernel.TaskGoneLocked(t) || t.Proc.FDs == nil || fd > math.MaxInt32 {
		return nil
	}
	return t.Proc.FDs.Entry(int32(fd)).File
}

// kcmpEpollTarget is KCMP_EPOLL_TFD: it compares f1 (nil: EBADF) with
// the file that the epoll instance at fd slot.efd of tab (nil: EBADF)
// watches under fd number slot.tfd, the slot.toff'th of them in the
// order of their identities (Linux's ep_find_tfd walks its tree in
// pointer order); ENOENT if there is no such interest, EINVAL if efd is
// not an epoll instance. slot is the struct kcmp_epoll_slot at addr in
// the caller's memory (EFAULT first, as Linux copies it in first).
func kcmpEpollTarget(c *kernel.Task, f1 *fdesc.File, tab *fdtable.Table, addr uint64) (int64, error) {
	b, err := c.Mem.CopyIn(addr, sysabi.SizeofKcmpEpollSlot)
	if err != nil {
		return 0, err
	}
	efd, tfd, toff := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
	if f1 == nil || tab == nil || efd > math.MaxInt32 {
		return 0, unix.EBADF
	}
	epf, _, err := tab.Get(int32(efd))
	if err != nil {
		return 0, unix.EBADF
	}
	defer epf.DecRef()
	ep, ok := epf.Impl.(*epoll.File)
	if !ok {
		return 0, unix.EINVAL
	}
	if tfd > math.MaxInt32 {
		return 0, unix.ENOENT
	}
	k := c.Kernel
	ids := make([]uint64, 0, 1)
	for _, f := range ep.Targets(int32(tfd)) {
		ids = append(ids, k.FileID(f))
	}
	slices.Sort(ids)
	if uint64(toff) >= uint64(len(ids)) {
		return 0, unix.ENOENT
	}
	return kcmpOrder(k.FileID(f1), ids[toff]), nil
}

// kcmpOrder is kcmp's answer for objects with ids a and b: 0 equal, 1
// less, 2 greater (Linux never answers 3, "not ordered", its manual's
// fourth value).
func kcmpOrder(a, b uint64) int64 {
	switch {
	case a < b:
		return 1
	case a > b:
		return 2
	}
	return 0
}
