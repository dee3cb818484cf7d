package fdtable

import (
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
)

// The bounds of /proc/sys/fs/nr_open (Linux's sysctl_nr_open_min and,
// on 64-bit, sysctl_nr_open_max: INT_MAX rounded down to BITS_PER_LONG)
// and its default. No RLIMIT_NOFILE, so no fd, reaches NrOpenMax.
const (
	NrOpenMin     = 64
	NrOpenMax     = 2147483584
	DefaultNrOpen = 1 << 20
)

// NrOpen is a sandbox's /proc/sys/fs/nr_open, shared by its fd tables:
// no fd may be allocated at or above it, a table with an fd above it is
// not copied (fork, unshare: EMFILE), and RLIMIT_NOFILE may not be set
// above it. The zero value (and a nil *NrOpen) is DefaultNrOpen.
type NrOpen struct {
	v atomic.Int32
}

// Get returns the value.
func (n *NrOpen) Get() int {
	if n == nil {
		return DefaultNrOpen
	}
	if v := n.v.Load(); v != 0 {
		return int(v)
	}
	return DefaultNrOpen
}

// Set sets the value: EINVAL out of [NrOpenMin, NrOpenMax], as Linux's
// proc_dointvec_minmax. Existing limits and fds stay.
func (n *NrOpen) Set(v int) error {
	if v < NrOpenMin || v > NrOpenMax {
		return unix.EINVAL
	}
	n.v.Store(int32(v))
	return nil
}

// DefaultNofile is RLIMIT_NOFILE's soft limit where none was set (Linux's
// INR_OPEN_CUR).
const DefaultNofile = 1024

// denseFDs is how many fds a table keeps in an array; higher fds (a
// raised RLIMIT_NOFILE, dup2 to a high number) live in a map, so that a
// table with fd 1000000 open costs one entry, not a million.
const denseFDs = 1024

// Entry is one slot of a table.
type Entry struct {
	// File is the open file description (nil: the slot is free).
	File *fdesc.File
	// Cloexec is the fd's close-on-exec flag.
	Cloexec bool
	// Seq is the client's call that made the fd (its call seq; 0: none,
	// as exec's stdio): a re-sent call finds by it the fd its first run
	// made, restored from a record that went out before the reply was
	// lost (FDsOfCall). A flag change and a fork's copy keep it.
	Seq uint64
}

// Slot names one fd of one table: what a Tracker is told changed.
type Slot struct {
	Table *Table
	FD    int32
}

// Tracker receives a table's changes for the replay capture: a slot that
// changed (its record is derived from Entry), and, as the tracker of each
// description a table first holds, the description's changes.
type Tracker interface {
	fdesc.Tracker
	TouchSlot(s Slot)
}

// Locks is a client's advisory lock table as its fd tables own POSIX
// locks in it.
type Locks = filelock.Table[*Table, *fdesc.File]

// LockKey names the inode a description's locks are keyed by; false for
// a description that cannot hold locks.
type LockKey func(f *fdesc.File) (ino uint64, ok bool)

// Table maps fd numbers to open file descriptions. It is shared by the
// processes created with CLONE_FILES.
type Table struct {
	// refs counts the processes using the table. Protected by the
	// kernel lock (kernel.Kernel.Mu).
	refs int
	// id is the table's replay-state id (0 until first reported).
	// Protected by the kernel lock.
	id uint64
	// trk receives the table's changes (nil: none). Immutable.
	trk Tracker
	// locks is the client's lock table: closing an fd drops the table's
	// POSIX locks on its file (lockKey names the inode). Immutable; nil
	// without one.
	locks   *Locks
	lockKey LockKey

	// mu protects fds, high, next and limit. It nests inside the kernel
	// lock.
	mu sync.Mutex
	// fds is indexed by fd for fds below denseFDs (grown as needed); a
	// nil File is a free slot. Protected by mu.
	fds []Entry
	// high holds the open fds at or above denseFDs. Protected by mu.
	high map[int32]Entry
	// next is a lower bound of the lowest free fd (every fd below it is
	// open), so that filling a table is not quadratic (Linux's next_fd).
	// Protected by mu.
	next int
	// limit is the RLIMIT_NOFILE soft limit new fds must stay below (0:
	// DefaultNofile), set by SetLimit. Processes sharing the table
	// (CLONE_FILES) share it. Protected by mu.
	limit int32
	// size is how many fds Linux's table would have room for (its
	// fdtable's max_fds; 0: the inlineFDs a new table holds): an fd
	// below it needs no room, so nr_open, which bounds a table's growth
	// only, does not refuse it. Protected by mu.
	size int
	// nrOpen is the sandbox's fs/nr_open (nil: DefaultNrOpen). Immutable.
	nrOpen *NrOpen
}

// inlineFDs is how many fds a Linux table has room for before it grows
// (NR_OPEN_DEFAULT, BITS_PER_LONG).
const inlineFDs = 64

// tableSlots is the room Linux's alloc_fdtable gives a table that needs
// want slots under nr_open: the next power of two, capped at nr_open
// rounded down to a word of bits; false when that is less than want
// (EMFILE).
func tableSlots(want, nrOpen int) (int, bool) {
	n := inlineFDs
	for n < want {
		n <<= 1
	}
	if n > nrOpen {
		n = nrOpen &^ (inlineFDs - 1)
		if n < want {
			return 0, false
		}
	}
	return n, true
}

// New returns an empty table with one user. trk (nil: none) is told of
// its changes; closing an fd drops the POSIX locks the table holds in
// locks (nil: none) on the inode lockKey names; nrOpen (nil: the
// default) bounds its fds.
func New(trk Tracker, locks *Locks, lockKey LockKey, nrOpen *NrOpen) *Table {
	return &Table{refs: 1, trk: trk, locks: locks, lockKey: lockKey, nrOpen: nrOpen}
}

// IncRef adds a user (a process created with CLONE_FILES). Precondition:
// the kernel lock is held.
func (t *Table) IncRef() { t.refs++ }

// Live reports whether a process still uses the table. Precondition: the
// kernel lock is held.
func (t *Table) Live() bool { return t.refs > 0 }

// Release drops a user. The last one empties the table and returns the
// files it held, whose references the caller drops once it released its
// locks (a file's release may call the gofer). Precondition: the kernel
// lock is held.
func (t *Table) Release() []*fdesc.File {
	t.refs--
	if t.refs > 0 {
		return nil
	}
	return t.RemoveIf(func(Entry) bool { return true })
}

// Unshare returns a table of the caller's own (execve): t if the caller
// is its only user, else a copy, the caller's use of t dropped.
// Precondition: the kernel lock is held.
func (t *Table) Unshare() *Table { return t.UnshareBelow(NrOpenMax) }

// UnshareBelow is Unshare whose copy keeps only the fds below maxFDs
// rounded up to a word of bits (Linux's dup_fd with max_fds: close_range's
// CLOSE_RANGE_UNSHARE of a range that goes to the end of the table, which
// closes the others anyway). Precondition: the kernel lock is held.
func (t *Table) UnshareBelow(maxFDs int) *Table {
	if t.refs <= 1 {
		return t
	}
	t.refs--
	return t.ForkBelow(maxFDs)
}

// ID is the table's replay id (0: not reported yet). Precondition: the
// kernel lock is held.
func (t *Table) ID() uint64 { return t.id }

// SetID sets the table's replay id (when first reported, or restored).
// Precondition: the kernel lock is held.
func (t *Table) SetID(id uint64) { t.id = id }

// limitLocked is the table's RLIMIT_NOFILE. Precondition: t.mu is held.
func (t *Table) limitLocked() int {
	if t.limit > 0 {
		return int(min(t.limit, NrOpenMax))
	}
	return DefaultNofile
}

// roomLocked reports whether the table has room for fd or may grow to
// have it (Linux's expand_files, EMFILE when not: the table may not grow
// to nr_open, which a lowered nr_open leaves below an RLIMIT_NOFILE set
// before), and grows it when grow. Precondition: t.mu is held.
func (t *Table) roomLocked(fd int, grow bool) bool {
	if fd < max(t.size, inlineFDs) {
		return true
	}
	nr := t.nrOpen.Get()
	if fd >= nr {
		return false
	}
	n, ok := tableSlots(fd+1, nr)
	if ok && grow {
		t.size = n
	}
	return ok
}

// openSlotsLocked is how many slots a copy of the table needs: its
// highest open fd rounded up to a word of bits (Linux's
// count_open_files). Precondition: t.mu is held.
func (t *Table) openSlotsLocked() int {
	last := -1
	for fd := range t.high {
		last = max(last, int(fd))
	}
	if last < 0 {
		for fd := len(t.fds) - 1; fd >= 0; fd-- {
			if t.fds[fd].File != nil {
				last = fd
				break
			}
		}
	}
	return (last + inlineFDs) &^ (inlineFDs - 1)
}

// copySlotsLocked is how many slots a copy of the table that keeps the
// fds below maxFDs needs, and how many of its fds the copy keeps: the
// open ones' slots, at most maxFDs (never less than the 64 a table holds
// inline) rounded up to a word of bits (Linux's sane_fdtable_size).
// Precondition: t.mu is held.
func (t *Table) copySlotsLocked(maxFDs int) int {
	n := min(t.openSlotsLocked(), max(maxFDs, inlineFDs))
	return (n + inlineFDs - 1) &^ (inlineFDs - 1)
}

// Room is 0 when every fd below the table's RLIMIT_NOFILE may be
// allocated as far as nr_open is concerned; else (nr_open lowered below
// the limit) how many fds the table has room for, which nr_open does not
// refuse (roomLocked): what a client that predicts new fds must stay
// below.
func (t *Table) Room() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nrOpen.Get() >= t.limitLocked() {
		return 0
	}
	return max(t.size, inlineFDs)
}

// Shared reports whether another process uses the table (CLONE_FILES).
// Precondition: the kernel lock is held.
func (t *Table) Shared() bool { return t.refs > 1 }

// CopyFits reports whether a copy of the table (fork without
// CLONE_FILES, unshare(CLONE_FILES), execve of a shared table) fits
// under nr_open, as Linux's dup_fd: the copy needs as many slots as the
// highest open fd rounded up to a word of bits (sane_fdtable_size), and
// above the 64 a table holds inline alloc_fdtable grants at most nr_open
// rounded down to a word: EMFILE beyond.
func (t *Table) CopyFits() bool { return t.CopyFitsBelow(NrOpenMax) }

// CopyFitsBelow is CopyFits for a copy that keeps only the fds below
// maxFDs (UnshareBelow: close_range's CLOSE_RANGE_UNSHARE).
func (t *Table) CopyFitsBelow(maxFDs int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	slots := t.copySlotsLocked(maxFDs)
	if slots <= inlineFDs {
		return true
	}
	_, ok := tableSlots(slots, t.nrOpen.Get())
	return ok
}

// End is where close_range's range must reach for CLOSE_RANGE_UNSHARE to
// copy only the fds below it: the last fd Linux's table has room for
// (last_fd, its max_fds less one).
func (t *Table) End() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return max(t.size, inlineFDs) - 1
}

// Limit is the table's RLIMIT_NOFILE (DefaultNofile when unset).
func (t *Table) Limit() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limitLocked()
}

// SetLimit sets the table's RLIMIT_NOFILE (0: unset); fds already above
// it stay.
func (t *Table) SetLimit(n int32) {
	t.mu.Lock()
	t.limit = n
	t.mu.Unlock()
}

// RestoreRoom gives a restored table the room it had (at most
// NrOpenMax), as its process's record says (ProcessState.fd_room): an
// fd below it needs no room, so with nr_open lowered below it the
// restored table accepts the fds the old one did and the client's
// predictions expect.
func (t *Table) RestoreRoom(n int) {
	t.mu.Lock()
	t.size = max(t.size, min(n, NrOpenMax))
	t.mu.Unlock()
}

// entryLocked returns slot fd (a zero entry when free or out of range).
// Precondition: t.mu is held.
func (t *Table) entryLocked(fd int) Entry {
	switch {
	case fd < 0:
		return Entry{}
	case fd < len(t.fds):
		return t.fds[fd]
	case fd >= denseFDs:
		return t.high[int32(fd)]
	}
	return Entry{}
}

// Entry returns slot fd (a zero Entry when free) without taking a
// reference: the caller keeps the file alive otherwise (the replay
// record's derivation, under the kernel lock).
func (t *Table) Entry(fd int32) Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entryLocked(int(fd))
}

// setLocked sets slot fd and reports it. Precondition: t.mu is held.
func (t *Table) setLocked(fd int, e Entry) {
	if old := t.entryLocked(fd).File; old != nil && old != e.File {
		t.dropPOSIXLocks(old)
	}
	switch {
	case fd >= denseFDs && e.File == nil:
		delete(t.high, int32(fd))
	case fd >= denseFDs:
		if t.high == nil {
			t.high = make(map[int32]Entry)
		}
		t.high[int32(fd)] = e
	default:
		if fd >= len(t.fds) {
			t.fds = append(t.fds, make([]Entry, fd+1-len(t.fds))...)
		}
		t.fds[fd] = e
	}
	if e.File == nil && fd < t.next {
		t.next = fd
	}
	if t.trk == nil {
		return
	}
	if e.File != nil && e.File.Tracker() == nil {
		e.File.SetTracker(t.trk)
	}
	t.trk.TouchSlot(Slot{t, int32(fd)})
}

// dropPOSIXLocks drops the POSIX locks the table holds on f's inode (an
// fd of f closed or replaced: Linux drops them all, whichever fd took
// them).
func (t *Table) dropPOSIXLocks(f *fdesc.File) {
	if t.locks == nil || t.lockKey == nil {
		return
	}
	if ino, ok := t.lockKey(f); ok {
		t.locks.RemoveOwner(ino, filelock.Owner[*Table, *fdesc.File]{Table: t}, true, false)
	}
}

// eachLocked calls fn for every open fd in increasing order.
// Precondition: t.mu is held; fn may clear the slot it is given.
func (t *Table) eachLocked(fn func(fd int, e Entry)) {
	for i, e := range t.fds {
		if e.File != nil {
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

// Each calls fn for every open fd in increasing order, with t.mu held:
// fn must not call the table, and takes no reference.
func (t *Table) Each(fn func(fd int32, e Entry)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.eachLocked(func(fd int, e Entry) { fn(int32(fd), e) })
}

// Get returns the file at fd with a new reference the caller must drop,
// and the fd's close-on-exec flag; EBADF if fd is not open.
func (t *Table) Get(fd int32) (*fdesc.File, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entryLocked(int(fd))
	if e.File == nil {
		return nil, false, unix.EBADF
	}
	e.File.IncRef()
	return e.File, e.Cloexec, nil
}

// Install puts f at the lowest free fd >= min for call seq. It consumes
// the caller's reference to f (on error too).
func (t *Table) Install(f *fdesc.File, min int32, cloexec bool, seq uint64) (int32, error) {
	t.mu.Lock()
	fd, err := t.installLocked(f, min, cloexec, seq)
	t.mu.Unlock()
	if err != nil {
		f.DecRef()
	}
	return fd, err
}

// HasFree reports whether an fd below the limit is free: an open checks
// it before it creates a file, as Linux reserves the fd first (an
// EMFILE open(O_CREAT) leaves no file behind).
func (t *Table) HasFree() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	lim := t.limitLocked()
	for fd := t.next; fd < lim; fd++ {
		if t.entryLocked(fd).File == nil {
			return t.roomLocked(fd, false)
		}
	}
	return false
}

// installLocked puts f at the lowest free fd >= min below the limit:
// EINVAL when min is at or above it (F_DUPFD), EMFILE when all are taken
// or the table may not grow to the free one (roomLocked).
func (t *Table) installLocked(f *fdesc.File, min int32, cloexec bool, seq uint64) (int32, error) {
	lim := t.limitLocked()
	if min < 0 || int(min) >= lim {
		return -1, unix.EINVAL
	}
	fd := max(int(min), t.next)
	for fd < lim && t.entryLocked(fd).File != nil {
		fd++
	}
	if fd >= lim || !t.roomLocked(fd, true) {
		return -1, unix.EMFILE
	}
	if fd == t.next {
		t.next++
	}
	t.setLocked(fd, Entry{File: f, Cloexec: cloexec, Seq: seq})
	return int32(fd), nil
}

// InstallPair installs two files at the lowest free fds (pipe,
// socketpair) for call seq: both or neither. It consumes both references.
func (t *Table) InstallPair(a, b *fdesc.File, cloexec bool, seq uint64) (int32, int32, error) {
	t.mu.Lock()
	fa, err := t.installLocked(a, 0, cloexec, seq)
	if err != nil {
		t.mu.Unlock()
		a.DecRef()
		b.DecRef()
		return -1, -1, err
	}
	fb, err := t.installLocked(b, 0, cloexec, seq)
	if err != nil {
		t.setLocked(int(fa), Entry{})
		t.mu.Unlock()
		a.DecRef()
		b.DecRef()
		return -1, -1, err
	}
	t.mu.Unlock()
	return fa, fb, nil
}

// InstallAt puts f at fd for call seq, replacing what was there (dup2,
// and replay, which rebuilds the same fd numbers). It consumes the caller's reference;
// the replaced file, if any, is returned for the caller to drop. An fd at
// or above the table's limit, or one the table may not grow to
// (roomLocked), is EBADF (dup2, dup3: Linux's dup3 turns expand_files'
// EMFILE into EBADF), unless anyLimit (replay: an fd opened before the
// limit or nr_open was lowered stays).
func (t *Table) InstallAt(fd int32, f *fdesc.File, cloexec, anyLimit bool, seq uint64) (*fdesc.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || fd >= NrOpenMax || (!anyLimit && (int(fd) >= t.limitLocked() || !t.roomLocked(int(fd), true))) {
		f.DecRef()
		return nil, unix.EBADF
	}
	if int(fd) >= t.size {
		t.size = int(fd) + 1 // replay: room for it, whatever nr_open says
	}
	old := t.entryLocked(int(fd)).File
	t.setLocked(int(fd), Entry{File: f, Cloexec: cloexec, Seq: seq})
	return old, nil
}

// InstallExact puts f at fd for call seq, which the caller names because it told the
// application that fd already (a posted open: the client predicted the
// lowest free fd): EMFILE when fd is at or above the table's limit, as
// Install would find the table full, and EBUSY when fd is open, unless
// replace (then the replaced file is returned for the caller to drop).
// It consumes the caller's reference to f (on error too).
func (t *Table) InstallExact(fd int32, f *fdesc.File, cloexec, replace bool, seq uint64) (*fdesc.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= t.limitLocked() || !t.roomLocked(int(fd), true) {
		f.DecRef()
		return nil, unix.EMFILE
	}
	old := t.entryLocked(int(fd)).File
	if old != nil && !replace {
		f.DecRef()
		return nil, unix.EBUSY
	}
	t.setLocked(int(fd), Entry{File: f, Cloexec: cloexec, Seq: seq})
	return old, nil
}

// Remove frees fd and returns its file (the table's reference); EBADF if
// fd is not open.
func (t *Table) Remove(fd int32) (*fdesc.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.entryLocked(int(fd)).File
	if f == nil {
		return nil, unix.EBADF
	}
	t.setLocked(int(fd), Entry{})
	return f, nil
}

// eachInRangeLocked calls fn for every open fd in [first, last] in
// increasing order (close_range's unsigned bounds: fds are never above
// NrOpenMax, so a last past it is every fd from first). Precondition:
// t.mu is held; fn may clear or set the slot it is given.
func (t *Table) eachInRangeLocked(first, last uint32, fn func(fd int, e Entry)) {
	if first >= NrOpenMax {
		return
	}
	end := int(min(last, NrOpenMax-1)) // inclusive
	for fd := int(first); fd < len(t.fds) && fd <= end; fd++ {
		if e := t.fds[fd]; e.File != nil {
			fn(fd, e)
		}
	}
	if len(t.high) == 0 || end < denseFDs {
		return
	}
	var high []int32
	for fd := range t.high {
		if int(fd) >= int(first) && int(fd) <= end {
			high = append(high, fd)
		}
	}
	slices.Sort(high)
	for _, fd := range high {
		if e, ok := t.high[fd]; ok {
			fn(int(fd), e)
		}
	}
}

// RemoveRange frees the open fds in [first, last] (close_range) and
// returns their files (the table's references), in fd order.
func (t *Table) RemoveRange(first, last uint32) []*fdesc.File {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*fdesc.File
	t.eachInRangeLocked(first, last, func(fd int, e Entry) {
		out = append(out, e.File)
		t.setLocked(fd, Entry{})
	})
	return out
}

// SetCloexecRange sets the close-on-exec flag of the open fds in [first,
// last] (close_range's CLOSE_RANGE_CLOEXEC); a free fd keeps none, as
// each new fd gets its own.
func (t *Table) SetCloexecRange(first, last uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.eachInRangeLocked(first, last, func(fd int, e Entry) {
		if !e.Cloexec {
			e.Cloexec = true
			t.setLocked(fd, e)
		}
	})
}

// SetCloexec sets fd's close-on-exec flag; EBADF if fd is not open.
func (t *Table) SetCloexec(fd int32, v bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entryLocked(int(fd))
	if e.File == nil {
		return unix.EBADF
	}
	e.Cloexec = v
	t.setLocked(int(fd), e)
	return nil
}

// FDsOfCall returns the open fds call seq made, in increasing order (a
// pipe's or a socketpair's two: InstallPair puts the first at the lower).
// A call re-sent after a recovery finds so the fds its first run made,
// whose records reached the client before the reply was lost (carried by
// another thread's reply): making them again would leave the first ones
// open and tell the application other numbers. None for seq 0.
func (t *Table) FDsOfCall(seq uint64) []int32 {
	if seq == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var fds []int32
	t.eachLocked(func(fd int, e Entry) {
		if e.Seq == seq {
			fds = append(fds, int32(fd))
		}
	})
	return fds
}

// Fork returns a copy of the table with one user, holding new references
// (fork without CLONE_FILES), with the same limit, tracker, locks and
// nr_open (the caller checked CopyFits where Linux would).
func (t *Table) Fork() *Table { return t.ForkBelow(NrOpenMax) }

// ForkBelow is Fork whose copy keeps only the fds below maxFDs rounded up
// to a word of bits (copySlotsLocked; the caller checked CopyFitsBelow).
func (t *Table) ForkBelow(maxFDs int) *Table {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &Table{refs: 1, trk: t.trk, locks: t.locks, lockKey: t.lockKey, limit: t.limit, nrOpen: t.nrOpen}
	// The copy has room for what it holds (dup_fd), more when nr_open
	// allows alloc_fdtable's power of two.
	slots := t.copySlotsLocked(maxFDs)
	if slots > inlineFDs {
		n.size = slots
		if s, ok := tableSlots(slots, t.nrOpen.Get()); ok {
			n.size = s
		}
	}
	n.fds = make([]Entry, min(len(t.fds), slots))
	t.eachLocked(func(fd int, e Entry) {
		if fd < slots {
			e.File.IncRef()
			n.setLocked(fd, e)
		}
	})
	n.next = min(t.next, slots)
	return n
}

// RemoveIf removes the entries drop selects and returns their files (the
// table's references).
func (t *Table) RemoveIf(drop func(Entry) bool) []*fdesc.File {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*fdesc.File
	t.eachLocked(func(fd int, e Entry) {
		if drop(e) {
			out = append(out, e.File)
			t.setLocked(fd, Entry{})
		}
	})
	return out
}

// List returns the open fds in order.
func (t *Table) List() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int32
	t.eachLocked(func(fd int, _ Entry) { out = append(out, int32(fd)) })
	return out
}

// Count is the number of open fds.
func (t *Table) Count() int { return len(t.List()) }
