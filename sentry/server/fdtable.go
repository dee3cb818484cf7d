package server

import (
	"sync"

	"golang.org/x/sys/unix"
)

// maxFDs is RLIMIT_NOFILE: fds are in [0, maxFDs).
const maxFDs = 1024

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
	locks *lockTable

	// mu protects fds and limit. It nests inside clientState.mu.
	mu sync.Mutex
	// fds is indexed by fd; a nil f is a free slot. Protected by mu.
	fds []fdEntry
	// limit is the RLIMIT_NOFILE soft limit new fds must stay below (0:
	// maxFDs), set by prlimit64 (rlimit.go). Processes sharing the table
	// (CLONE_FILES) share it. Protected by mu.
	limit int32
}

// limitLocked is the bound of new fds. Precondition: t.mu is held.
func (t *fdTable) limitLocked() int {
	if t.limit > 0 && t.limit < maxFDs {
		return int(t.limit)
	}
	return maxFDs
}

func newFDTable(trk *stateTracker, locks *lockTable) *fdTable {
	return &fdTable{refs: 1, trk: trk, locks: locks}
}

// setLocked sets slot fd and reports it. Precondition: t.mu is held.
func (t *fdTable) setLocked(fd int, e fdEntry) {
	if old := t.fds[fd].f; old != nil && old != e.f {
		t.locks.fdClosed(t, old)
	}
	t.fds[fd] = e
	if e.f != nil && t.trk != nil && e.f.trk.Load() == nil {
		e.f.trk.Store(t.trk)
	}
	t.trk.markSlot(t, int32(fd))
}

// get returns the file at fd with a new reference the caller must drop.
func (t *fdTable) get(fd int32) (*file, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].f == nil {
		return nil, false, unix.EBADF
	}
	e := t.fds[fd]
	e.f.incRef()
	return e.f, e.cloexec, nil
}

// install puts f at the lowest free fd >= min. It consumes the caller's
// reference to f (on error too).
func (t *fdTable) install(f *file, min int32, cloexec bool) (int32, error) {
	t.mu.Lock()
	fd, err := t.installLocked(f, min, cloexec)
	t.mu.Unlock()
	if err != nil {
		f.decRef()
	}
	return fd, err
}

func (t *fdTable) installLocked(f *file, min int32, cloexec bool) (int32, error) {
	lim := t.limitLocked()
	if min < 0 || int(min) >= lim {
		return -1, unix.EINVAL
	}
	for fd := int(min); fd < lim; fd++ {
		if fd >= len(t.fds) {
			t.fds = append(t.fds, make([]fdEntry, fd+1-len(t.fds))...)
		}
		if t.fds[fd].f == nil {
			t.setLocked(fd, fdEntry{f: f, cloexec: cloexec})
			return int32(fd), nil
		}
	}
	return -1, unix.EMFILE
}

// installPair installs two files at the lowest free fds (pipe). It
// consumes both references.
func (t *fdTable) installPair(a, b *file, cloexec bool) (int32, int32, error) {
	t.mu.Lock()
	fa, err := t.installLocked(a, 0, cloexec)
	if err != nil {
		t.mu.Unlock()
		a.decRef()
		b.decRef()
		return -1, -1, err
	}
	fb, err := t.installLocked(b, 0, cloexec)
	if err != nil {
		t.setLocked(int(fa), fdEntry{})
		t.mu.Unlock()
		a.decRef()
		b.decRef()
		return -1, -1, err
	}
	t.mu.Unlock()
	return fa, fb, nil
}

// installAt puts f at fd, replacing what was there (dup2, and replay,
// which rebuilds the same fd numbers). It consumes the caller's reference;
// the replaced file, if any, is returned for the caller to drop.
func (t *fdTable) installAt(fd int32, f *file, cloexec bool) (*file, error) {
	if fd < 0 || fd >= maxFDs {
		f.decRef()
		return nil, unix.EBADF
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if int(fd) >= len(t.fds) {
		t.fds = append(t.fds, make([]fdEntry, int(fd)+1-len(t.fds))...)
	}
	old := t.fds[fd].f
	t.setLocked(int(fd), fdEntry{f: f, cloexec: cloexec})
	return old, nil
}

// remove frees fd and returns its file (the table's reference).
func (t *fdTable) remove(fd int32) (*file, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].f == nil {
		return nil, unix.EBADF
	}
	f := t.fds[fd].f
	t.setLocked(int(fd), fdEntry{})
	return f, nil
}

// setCloexec sets fd's close-on-exec flag.
func (t *fdTable) setCloexec(fd int32, v bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].f == nil {
		return unix.EBADF
	}
	t.setLocked(int(fd), fdEntry{f: t.fds[fd].f, cloexec: v})
	return nil
}

// fork returns a copy of the table holding new references.
func (t *fdTable) fork() *fdTable {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &fdTable{refs: 1, fds: make([]fdEntry, len(t.fds)), trk: t.trk, locks: t.locks, limit: t.limit}
	for i, e := range t.fds {
		if e.f != nil {
			e.f.incRef()
			n.setLocked(i, e)
		}
	}
	return n
}

// removeIf removes the entries keep says to drop and returns their files.
func (t *fdTable) removeIf(drop func(fdEntry) bool) []*file {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*file
	for i, e := range t.fds {
		if e.f != nil && drop(e) {
			out = append(out, e.f)
			t.setLocked(i, fdEntry{})
		}
	}
	return out
}

// list returns the open fds in order.
func (t *fdTable) list() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int32
	for i, e := range t.fds {
		if e.f != nil {
			out = append(out, int32(i))
		}
	}
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
			f.decRef()
		}
	})
}
