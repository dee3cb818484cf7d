package client

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Reads after opens (docs/ARCHITECTURE.md, "The client's read cache").
//
// The server leases a file at its open only when its data cache holds
// the file: an open may be followed by no read (open+close, a stat
// through the fd), and reading the file for a lease would be wasted. But
// most programs read what they open (Python each module's .pyc: open,
// fstat, read; a compiler each header), and for them the fstat or read
// after the open is a round trip that only fetches the lease. So the
// client keeps the outcome of its last waited read-only opens of regular
// files (was the description read, or fstat'ed, before its first close?)
// and, while most were, asks the server for the lease with its data at
// the open (Syscall.open_data_wanted).

// openUseWindow is how many of the last outcomes decide; at least
// openUseMin must be known, and three quarters of them reads.
const (
	openUseWindow = 16
	openUseMin    = 8
	// openUseMax bounds the descriptions watched at once (opens never
	// closed stop counting beyond it).
	openUseMax = 4096
)

// openUse is the outcome of the client's recent read-only opens.
type openUse struct {
	// watched is len(open), read without mu on every call that may use
	// a description (nothing to do while it is 0).
	watched atomic.Int32

	mu sync.Mutex
	// open holds the descriptions of watched opens not yet closed, and
	// whether each was read or fstat'ed. Protected by mu.
	open map[uint64]bool
	// outcomes are the last outcomes, the newest in bit 0 (1: read);
	// known how many of them count (at most openUseWindow). Protected
	// by mu.
	outcomes uint32
	known    int
}

// wanted says whether most recent read-only opens were read.
func (u *openUse) wanted() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.known < openUseMin {
		return false
	}
	reads := bits.OnesCount32(u.outcomes & (1<<u.known - 1))
	return 4*reads >= 3*u.known
}

// opened watches description desc of a waited read-only open.
func (u *openUse) opened(desc uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.open) >= openUseMax {
		return
	}
	if u.open == nil {
		u.open = make(map[uint64]bool)
	}
	if _, ok := u.open[desc]; !ok {
		u.watched.Add(1)
	}
	u.open[desc] = false
}

// used notes a read or fstat of desc.
func (u *openUse) used(desc uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.open[desc]; ok {
		u.open[desc] = true
	}
}

// closed ends the watch of desc, counting its outcome if regular.
func (u *openUse) closed(desc uint64, regular bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	read, ok := u.open[desc]
	if !ok {
		return
	}
	delete(u.open, desc)
	u.watched.Add(-1)
	if !regular {
		return
	}
	u.outcomes <<= 1
	if read {
		u.outcomes |= 1
	}
	u.known = min(u.known+1, openUseWindow)
}

// openUseFD returns the fd whose description call sysno reads or
// fstats, if it is such a call.
func openUseFD(sysno uintptr, args [6]uint64) (int32, bool) {
	switch sysno {
	case unix.SYS_READ, unix.SYS_READV, unix.SYS_PREAD64, unix.SYS_PREADV, unix.SYS_FSTAT:
		return int32(args[0]), true
	case unix.SYS_NEWFSTATAT:
		return int32(args[0]), args[3]&unix.AT_EMPTY_PATH != 0
	case unix.SYS_SENDFILE:
		return int32(args[1]), true
	case unix.SYS_COPY_FILE_RANGE:
		return int32(args[0]), true
	}
	return 0, false
}

// noteOpenUse feeds t's call, about to be answered or forwarded, to the
// watch of read-only opens: a read or fstat of a watched description, or
// a close.
func (t *task) noteOpenUse(sysno uintptr, args [6]uint64) {
	u := &t.c.openUse
	if u.watched.Load() == 0 {
		return
	}
	fd, ok := openUseFD(sysno, args)
	if !ok && sysno != unix.SYS_CLOSE {
		return
	}
	if sysno == unix.SYS_CLOSE {
		fd = int32(args[0])
	}
	desc, ok := t.c.ids.fileOf(t.proc.pid, fd)
	if !ok {
		return
	}
	if sysno != unix.SYS_CLOSE {
		u.used(desc)
		return
	}
	f, _ := t.c.pipe.fileOf(desc)
	u.closed(desc, f.regular)
}

// readOnlyOpen says whether open or openat call sysno opens for reading
// only a file that may be regular (not O_DIRECTORY, O_PATH or O_CREAT).
func readOnlyOpen(sysno uintptr, args [6]uint64) bool {
	var flags uint64
	switch sysno {
	case unix.SYS_OPEN:
		flags = args[1]
	case unix.SYS_OPENAT:
		flags = args[2]
	default:
		return false
	}
	return flags&unix.O_ACCMODE == unix.O_RDONLY && flags&(unix.O_DIRECTORY|unix.O_PATH|unix.O_CREAT) == 0
}
