package client

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// close_range(2) (docs/COMPATIBILITY.md, "System calls").
//
// close_range is forwarded, and waited for: the server closes the fds
// its table has open in the range, each as close(2) closes it (or sets
// their close-on-exec flag; with CLOSE_RANGE_UNSHARE in a table of the
// caller's own, the process's record then naming the new table), after
// every call posted before it. Its reply carries each changed fd's
// record, which the client folds into its copy of the fd tables
// (pipeline.go, fdflags.go) and its log before the application sees the
// result, as a waited close's: the copy never holds an fd the server
// closed, so no posted call is made of it later. A recovery re-sends a
// call whose reply was lost to a server restored from the log without
// those records, which closes the same fds again.
//
// What the client keeps of an fd besides its record, and drops when a
// close of it is forwarded (forwardCall's SYS_CLOSE case), it drops here,
// before the call, for each fd the copy has open in the range: the watch
// of read-only opens' count of the close, the marks of a listing at its
// end and of a listing ahead, and the owned file's copy (ownedfile.go).
// The rest is kept per description and goes with the description's
// record (a write behind's kept error, a pipe's reader, a lease). It is
// not posted, as a close of one fd may be: the range may hold fds the
// copy does not know yet (another process's opens in a shared table),
// and one close_range waits once however many fds it closes. A write
// behind's error the server kept on a closed description stays on its
// file for the next fsync (the server's CloseRange), as Linux's
// close_range reports none.

// closeRangeFlags are close_range's flags.
const closeRangeFlags = linux.CLOSE_RANGE_UNSHARE | linux.CLOSE_RANGE_CLOEXEC

// closeRangeBefore drops what t keeps of each fd close_range(args) is
// about to close (see above); a call that fails EINVAL or only sets the
// close-on-exec flag closes none.
func (t *task) closeRangeBefore(args [6]uint64) {
	first, last, flags := uint32(args[0]), uint32(args[1]), uint32(args[2])
	if flags&^closeRangeFlags != 0 || first > last || flags&linux.CLOSE_RANGE_CLOEXEC != 0 {
		return
	}
	fds, known := t.c.ids.openFDsIn(t.proc.pid, first, last)
	if !known {
		// As a close of an fd of a table the copy does not know
		// (-1: no fd): the marks of every description go.
		fds = []int32{-1}
	}
	for _, fd := range fds {
		t.noteOpenUse(unix.SYS_CLOSE, [6]uint64{uint64(uint32(fd))})
		t.forgetListingEnd(fd)
		t.forgetFresh(fd)
		t.dropOwnedFD(fd)
	}
}

// openFDsIn returns the fds in [first, last] that pid's fd table has
// open as the client's copy holds it, and whether the copy knows the
// table.
func (c *procIDCache) openFDsIn(pid int32, first, last uint32) ([]int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, ok := c.byPID[pid]
	if !ok || ids.fdTable == 0 {
		return nil, false
	}
	var out []int32
	for fd := range c.openFDs[ids.fdTable] {
		if fd >= 0 && uint32(fd) >= first && uint32(fd) <= last {
			out = append(out, fd)
		}
	}
	return out, true
}
