package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// sysPrlimit64 keeps the one resource limit the server enforces,
// RLIMIT_NOFILE, of the calling process's fd table. The client owns every
// other limit and answers getrlimit/setrlimit/prlimit64 itself; it sends
// prlimit64(0, RLIMIT_NOFILE, new, old) here after a change of that limit
// (and so may a hostile client: the server never grants more than maxFDs).
func sysPrlimit64(c *syscallCtx) (int64, error) {
	pid, resource, newAddr, oldAddr := int32(c.args[0]), c.args[1], c.args[2], c.args[3]
	if pid != 0 && pid != c.pid() {
		return 0, unix.EPERM
	}
	if resource != unix.RLIMIT_NOFILE {
		return 0, unix.EINVAL
	}
	tab := c.t.proc.fds
	if tab == nil {
		return 0, unix.ESRCH
	}
	if oldAddr != 0 {
		var b [16]byte
		cur := uint64(tab.getLimit())
		binary.LittleEndian.PutUint64(b[:], cur)
		binary.LittleEndian.PutUint64(b[8:], maxFDs)
		if err := c.mem.CopyOut(oldAddr, b[:]); err != nil {
			return 0, err
		}
	}
	if newAddr == 0 {
		return 0, nil
	}
	b, err := c.mem.CopyIn(newAddr, 16)
	if err != nil {
		return 0, err
	}
	cur, max := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if cur > max {
		return 0, unix.EINVAL
	}
	tab.setLimit(int32(min(cur, maxFDs)))
	c.k.trk.markProc(c.t.proc)
	return 0, nil
}

// getLimit is the table's RLIMIT_NOFILE (maxFDs when unset).
func (t *fdTable) getLimit() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limitLocked()
}

// setLimit sets the table's RLIMIT_NOFILE; fds already above it stay.
func (t *fdTable) setLimit(n int32) {
	t.mu.Lock()
	t.limit = n
	t.mu.Unlock()
}
