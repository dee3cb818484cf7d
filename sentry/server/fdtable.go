package server

import (
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
)

// nrOpen is /proc/sys/fs/nr_open, Linux's default: no RLIMIT_NOFILE, so
// no fd, reaches it.
const nrOpen = 1 << 20

// defaultNofile is RLIMIT_NOFILE's soft limit where none was set (Linux's
// INR_OPEN_CUR).
const defaultNofile = 1024

// denseFDs is how many fds a table keeps in an array; higher fds (a
// raised RLIMIT_NOFILE, dup2 to a high number) live in a map, so that a
// table with fd 1000000 open costs one entry, not a million.
const denseFDs = 1024

type fdEntry struct {
	f       *file
	cloexec bool
}

// fdTable maps fd numbers to open file descriptions. It is shared by the
// processes created with CLONE_FILES.
type fdTable struct {
	// refs counts the processes using the table. Protected by
	// clientState.mu.
	refs int
	// id is the table's replay-state id (0 until first reported).
	// Protected by clientState.mu.
	id uint64
	// trk receives the table's changes. Immutable.
	trk *stateTracker
	// locks is the client's lock table: closing an fd drops the table's
	// POSIX locks on its file. Immutable; nil in tests without one.
	locks *filelock.Table[*fdTable, *file]

	// mu protects fds, high, next and limit. It nests inside
	// clientState.mu.
	mu sync.Mutex
	// fds is indexed by fd for fds below denseFDs (grown as needed); a
	// nil f is a free slot. Protected by mu.
	fds []fdEntry
	// high holds the open fds at or above denseFDs. Protected by mu.
	high map[int32]fdEntry
	// next is a lower bound of the lowest free fd (every fd below it is
	// open), so that filling a table is not quadratic (Linux's next_fd).
	// Protected by mu.
	next int
	// limit is the RLIMIT_NOFILE soft limit new fds must stay below (0:
	// defaultNofile), set by prlimit64 (rlimit.go) and by Start. Processes
	// sharing the table (CLONE_FILES) share it. Protected by mu.
	limit int32
}

// limitLocked is the bound of new fds. Precondition: t.mu is held.
func (t *fdTable) limitLocked() int {
	if t.limit > 0 {
		return int(min(t.limit, nrOpen))
	}
	return defaultNofile
}

func newFDTable(trk *stateTracker, locks *filelock.Table[*fdTable, *file]) *fdTable {
	return &fdTable{refs: 1, trk: trk, locks: locks}
}

// entryLocked returns slot fd (a zero entry when free or out of range).
// Precondition: t.mu is held.
func (t *fdTable) entryLocked(fd int) fdEntry {
	switch {
	case fd < 0:
		return fdEntry{}
	case fd < len(t.fds):
		return t.fds[fd]
	case fd >= denseFDs:
		return t.high[int32(fd)]
	}
	return fdEntry{}
}

// setLocked sets slot fd and reports it. Precondition: t.mu is held.
func (t *fdTable) setLocked(fd int, e fdEntry) {
	if old := t.entryLocked(fd).f; old != nil && old != e.f {
		dropPOSIXLocks(t.locks, t, old)
	}
	switch {
	case fd >= denseFDs && e.f == nil:
		delete(t.high, int32(fd))
	case fd >= denseFDs:
		if t.high == nil {
			t.high = make(map[int32]fdEntry)
		}
		t.high[int32(fd)] = e
	default:
		if fd >= len(t.fds) {
			t.fds = append(t.fds, make([]fdEntry, fd+1-len(t.fds))...)
		}
		t.fds[fd] = e
	}
	if e.f == nil && fd < t.next {
		t.next = fd
	}
	if e.f != nil && t.trk != nil && e.f.Tracker() == nil {
		e.f.SetTracker(t.trk)
	}
	t.trk.touch(fdSlot{t, int32(fd)})
}

// eachLocked calls fn for every open fd in increasing order.
// Precondition: t.mu is held; fn may clear the slot it is given.
func (t *fdTable) eachLocked(fn func(fd int, e fdEntry)) {
	for i, e := range t.fds {
		if e.f != nil {
			fn(i, e)
		}
	}
	if len(t.high) == 0 {
		return
	}
	high := make([]int32, 0, len(t.high))
	for fd := range t.high {
		high = append(high, fd)
	}
	slices.Sort(high)
	for _, fd := range high {
		if e, ok := t.high[fd]; ok {
			fn(int(fd), e)
		}
	}
}

// get returns the file at fd with a new reference the caller must drop.
func (t *fdTable) get(fd int32) (*file, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entryLocked(int(fd))
	if e.f == nil {
		return nil, false, unix.EBADF
	}
	e.f.IncRef()
	return e.f, e.cloexec, nil
}

// install puts f at the lowest free fd >= min. It consumes the caller's
// reference to f (on error too).
func (t *fdTable) install(f *file, min int32, cloexec bool) (int32, error) {
	t.mu.Lock()
	fd, err := t.installLocked(f, min, cloexec)
	t.mu.Unlock()
	if err != nil {
		f.DecRef()
	}
	return fd, err
}

// installLocked puts f at the lowest free fd >= min below the limit:
// EINVAL when min is at or above it (F_DUPFD), EMFILE when all are taken.
func (t *fdTable) installLocked(f *file, min int32, cloexec bool) (int32, error) {
	lim := t.limitLocked()
	if min < 0 || int(min) >= lim {
		return -1, unix.EINVAL
	}
	fd := max(int(min), t.next)
	for fd < lim && t.entryLocked(fd).f != nil {
		fd++
	}
	if fd >= lim {
		return -1, unix.EMFILE
	}
	if fd == t.next {
		t.next++
	}
	t.setLocked(fd, fdEntry{f: f, cloexec: cloexec})
	return int32(fd), nil
}

// installPair installs two files at the lowest free fds (pipe). It
// consumes both references.
func (t *fdTable) installPair(a, b *file, cloexec bool) (int32, int32, error) {
	t.mu.Lock()
	fa, err := t.installLocked(a, 0, cloexec)
	if err != nil {
		t.mu.Unlock()
		a.DecRef()
		b.DecRef()
		return -1, -1, err
	}
	fb, err := t.installLocked(b, 0, cloexec)
	if err != nil {
		t.setLocked(int(fa), fdEntry{})
		t.mu.Unlock()
		a.DecRef()
		b.DecRef()
		return -1, -1, err
	}
	t.mu.Unlock()
	return fa, fb, nil
}

// installAt puts f at fd, replacing what was there (dup2, and replay,
// which rebuilds the same fd numbers). It consumes the caller's reference;
// the replaced file, if any, is returned for the caller to drop. An fd at
// or above the table's limit is EBADF (dup2, dup3), unless anyLimit
// (replay: an fd opened before the limit was lowered stays).
func (t *fdTable) installAt(fd int32, f *file, cloexec, anyLimit bool) (*file, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || fd >= nrOpen || (!anyLimit && int(fd) >= t.limitLocked()) {
		f.DecRef()
		return nil, unix.EBADF
	}
	old := t.entryLocked(int(fd)).f
	t.setLocked(int(fd), fdEntry{f: f, cloexec: cloexec})
	return old, nil
}

// remove frees fd and returns its file (the table's reference).
func (t *fdTable) remove(fd int32) (*file, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.entryLocked(int(fd)).f
	if f == nil {
		return nil, unix.EBADF
	}
	t.setLocked(int(fd), fdEntry{})
	return f, nil
}

// setCloexec sets fd's close-on-exec flag.
func (t *fdTable) setCloexec(fd int32, v bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.entryLocked(int(fd)).f
	if f == nil {
		return unix.EBADF
	}
	t.setLocked(int(fd), fdEntry{f: f, cloexec: v})
	return nil
}

// fork returns a copy of the table holding new references.
func (t *fdTable) fork() *fdTable {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &fdTable{refs: 1, fds: make([]fdEntry, len(t.fds)), trk: t.trk, locks: t.locks, limit: t.limit}
	t.eachLocked(func(fd int, e fdEntry) {
		e.f.IncRef()
		n.setLocked(fd, e)
	})
	n.next = t.next
	return n
}

// removeIf removes the entries keep says to drop and returns their files.
func (t *fdTable) removeIf(drop func(fdEntry) bool) []*file {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*file
	t.eachLocked(func(fd int, e fdEntry) {
		if drop(e) {
			out = append(out, e.f)
			t.setLocked(fd, fdEntry{})
		}
	})
	return out
}

// list returns the open fds in order.
func (t *fdTable) list() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int32
	t.eachLocked(func(fd int, _ fdEntry) { out = append(out, int32(fd)) })
	return out
}

func (t *fdTable) count() int { return len(t.list()) }

// dropFDTableLocked drops a process's reference to tab; the last one
// closes every file (after k.mu is released, through d).
func (k *clientState) dropFDTableLocked(tab *fdTable, d *deferred) {
	tab.refs--
	if tab.refs > 0 {
		return
	}
	files := tab.removeIf(func(fdEntry) bool { return true })
	d.fns = append(d.fns, func() {
		for _, f := range files {
			f.DecRef()
		}
	})
}
