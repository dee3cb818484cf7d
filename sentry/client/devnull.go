package client

import (
	"golang.org/x/sys/unix"
)

// Reads and writes of /dev/null answered on the client (docs/ARCHITECTURE.md,
// "/dev/null on the client").
//
// `cmd >/dev/null 2>&1`, `</dev/null` and `-o /dev/null` make every write
// of a program's output, and a read of its input, a call to the sentry's
// /dev/null, which changes nothing and answers the same thing each time:
// a write its count, a read 0. The description's record says it is that
// device (FileState.dev_null, set by the server for its own /dev/null
// only, not for a device of the host's file system), so the client
// answers them as Linux's null device does, without the round trip.
//
// Only read(2) and write(2), of a single-threaded process whose fd table
// no other process shares (the fd cannot change under the call), while no
// inotify instance exists (Linux reports a write to /dev/null as
// IN_MODIFY). Linux's checks before the device come first: a description
// not open for the call's direction, an O_PATH one, or a buffer range
// outside the user address space (EFAULT, before the device is reached)
// is forwarded, and the server answers the error. The buffer is never
// touched: a write of unmapped memory returns its count, as on Linux.

// maxRWCount is Linux's MAX_RW_COUNT (INT_MAX rounded down to a page): a
// write of more returns that much.
const maxRWCount = 0x7ffff000

// devNullIO answers read(2) and write(2) of /dev/null (see above): its
// result, and whether it answered (the call is then marked cached). It
// runs before every read and write is forwarded or posted, so the fd's
// description is looked at before the process's other conditions.
func (t *task) devNullIO(sysno uintptr, args [6]uint64) (uint64, bool) {
	if sysno != unix.SYS_READ && sysno != unix.SYS_WRITE {
		return 0, false
	}
	buf, count := args[1], args[2]
	// Linux's access_ok: the range is below the user address space's
	// end (it need not be mapped).
	end := uint64(t.c.plat.MaxUserAddress())
	if count > end || buf > end-count {
		return 0, false
	}
	file, ok := t.c.ids.soleFD(t.proc.pid, int32(args[0]))
	if !ok {
		return 0, false
	}
	f, known := t.c.pipe.fileOf(file)
	if !known || !f.devNull || f.flags&unix.O_PATH != 0 || t.c.inotifyUsed.Load() || !t.singleThreaded() {
		return 0, false
	}
	var n uint64
	switch acc := f.flags & unix.O_ACCMODE; {
	case sysno == unix.SYS_READ && acc != unix.O_WRONLY:
		// End of file at once: n stays 0.
	case sysno == unix.SYS_WRITE && acc != unix.O_RDONLY:
		n = min(count, maxRWCount)
	default:
		return 0, false
	}
	t.cached = true
	return n, true
}
