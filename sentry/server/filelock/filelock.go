package filelock

import (
	"slices"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// EOF is the end of a lock that extends to the end of the file (l_len
// 0), whatever its size becomes.
const EOF = ^uint64(0)

// maxDeadlockDepth bounds the walk of the wait-for chain, as Linux's
// MAX_DEADLK_ITERATIONS.
const maxDeadlockDepth = 10

// Owner is who holds a lock: a POSIX lock's fd table (Table), or an OFD
// or flock lock's open file description (File). One of the two is set,
// the other is its type's zero value.
type Owner[T, F comparable] struct {
	Table T
	File  F
}

// Held is one lock: [Start, End) of a file.
type Held[T, F comparable] struct {
	Owner      Owner[T, F]
	Write      bool
	Start, End uint64
	// Pid is F_GETLK's l_pid: the locking process of a POSIX lock, -1
	// for an OFD or flock lock.
	Pid int32
}

func (l *Held[T, F]) overlaps(start, end uint64) bool { return l.Start < end && start < l.End }

// fileLocks are the locks on one file.
type fileLocks[T, F comparable] struct {
	// record holds POSIX and OFD locks, sorted by start; flocks the
	// flock(2) locks (whole file).
	record, flocks []Held[T, F]
	// changed wakes waiters when a lock goes.
	changed wake.Notifier
}

// Table is a client's locks, by inode number of the file. T is the type
// of a POSIX lock's owner (an fd table), F that of an OFD or flock lock's
// owner (an open file description).
type Table[T, F comparable] struct {
	// mu protects the fields below.
	mu    sync.Mutex
	byIno map[uint64]*fileLocks[T, F]
	// waiting maps a POSIX owner blocked in F_SETLKW to the owner of the
	// lock it waits for (deadlock detection).
	waiting map[T]T
	// changed is called, under mu, with the inode number of each file
	// whose locks changed. Immutable.
	changed func(ino uint64)
}

// NewTable returns an empty table that reports each change to changed.
func NewTable[T, F comparable](changed func(ino uint64)) *Table[T, F] {
	return &Table[T, F]{byIno: make(map[uint64]*fileLocks[T, F]), waiting: make(map[T]T), changed: changed}
}

// isPOSIX reports whether o owns POSIX locks (an fd table).
func (o Owner[T, F]) isPOSIX() bool {
	var none T
	return o.Table != none
}

// conflict returns the first lock of locks that keeps owner from taking
// [start, end) for writing (or reading), or nil.
func conflict[T, F comparable](locks []Held[T, F], owner Owner[T, F], write bool, start, end uint64) *Held[T, F] {
	for i := range locks {
		l := &locks[i]
		if l.Owner != owner && l.overlaps(start, end) && (write || l.Write) {
			return l
		}
	}
	return nil
}

// setRange makes owner's locks on [start, end) of locks nl (nl nil:
// unlock), splitting and merging owner's other locks as Linux does, and
// returns the new list.
func setRange[T, F comparable](locks []Held[T, F], owner Owner[T, F], start, end uint64, nl *Held[T, F]) []Held[T, F] {
	out := make([]Held[T, F], 0, len(locks)+2)
	for _, l := range locks {
		if l.Owner != owner || !l.overlaps(start, end) {
			out = append(out, l)
			continue
		}
		if l.Start < start {
			left := l
			left.End = start
			out = append(out, left)
		}
		if l.End > end {
			right := l
			right.Start = end
			out = append(out, right)
		}
	}
	if nl != nil {
		out = append(out, *nl)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	// Merge touching locks of one owner and type.
	merged := out[:0]
	for _, l := range out {
		if n := len(merged); n > 0 {
			for i := n - 1; i >= 0; i-- {
				m := &merged[i]
				if m.Owner == l.Owner && m.Write == l.Write && m.End >= l.Start && m.Start <= l.End {
					m.End = max(m.End, l.End)
					m.Start = min(m.Start, l.Start)
					goto next
				}
			}
		}
		merged = append(merged, l)
	next:
	}
	return merged
}

// locksOfLocked returns ino's locks, made if needed. Precondition: mu.
func (lt *Table[T, F]) locksOfLocked(ino uint64) *fileLocks[T, F] {
	fl := lt.byIno[ino]
	if fl == nil {
		fl = &fileLocks[T, F]{}
		lt.byIno[ino] = fl
	}
	return fl
}

// changedLocked reports ino's locks and wakes its waiters. Precondition:
// mu.
func (lt *Table[T, F]) changedLocked(ino uint64, fl *fileLocks[T, F]) {
	fl.changed.Notify()
	if len(fl.record) == 0 && len(fl.flocks) == 0 {
		delete(lt.byIno, ino)
	}
	lt.changed(ino)
}

// RemoveOwner drops owner's locks on ino (record locks, flock locks or
// both), if it holds any.
func (lt *Table[T, F]) RemoveOwner(ino uint64, owner Owner[T, F], record, flock bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.removeOwnerLocked(ino, owner, record, flock)
}

func (lt *Table[T, F]) removeOwnerLocked(ino uint64, owner Owner[T, F], record, flock bool) {
	fl := lt.byIno[ino]
	if fl == nil {
		return
	}
	changed := false
	drop := func(locks []Held[T, F]) []Held[T, F] {
		out := locks[:0]
		for _, l := range locks {
			if l.Owner == owner {
				changed = true
				continue
			}
			out = append(out, l)
		}
		return out
	}
	if record {
		fl.record = drop(fl.record)
	}
	if flock {
		fl.flocks = drop(fl.flocks)
	}
	if changed {
		lt.changedLocked(ino, fl)
	}
}

// Lock takes (or, with nl nil, releases) owner's lock on [start, end) of
// ino: in the flock space if flock. With block nil a conflicting lock of
// another owner is EAGAIN; otherwise Lock waits until none conflicts,
// blocking on the channel it passes to block (which returns an error,
// ERESTARTSYS, when the wait is interrupted); a POSIX waiter whose wait
// would close a cycle of POSIX owners gets EDEADLK instead.
func (lt *Table[T, F]) Lock(ino uint64, owner Owner[T, F], flock bool, start, end uint64, nl *Held[T, F], block func(<-chan struct{}) error) error {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for {
		fl := lt.locksOfLocked(ino)
		list := &fl.record
		if flock {
			list = &fl.flocks
		}
		var blocker *Held[T, F]
		if nl != nil {
			blocker = conflict(*list, owner, nl.Write, start, end)
		}
		if blocker == nil {
			before := *list
			*list = setRange(before, owner, start, end, nl)
			if nl != nil || !slices.Equal(before, *list) {
				lt.changedLocked(ino, fl)
			} else if len(fl.record) == 0 && len(fl.flocks) == 0 {
				delete(lt.byIno, ino)
			}
			return nil
		}
		if block == nil {
			if len(fl.record) == 0 && len(fl.flocks) == 0 {
				delete(lt.byIno, ino)
			}
			return unix.EAGAIN
		}
		if owner.isPOSIX() && blocker.Owner.isPOSIX() {
			var none T
			for o, n := blocker.Owner.Table, 0; o != none && n < maxDeadlockDepth; o, n = lt.waiting[o], n+1 {
				if o == owner.Table {
					return unix.EDEADLK
				}
			}
			lt.waiting[owner.Table] = blocker.Owner.Table
		}
		ch := fl.changed.Wait()
		lt.mu.Unlock()
		err := block(ch)
		lt.mu.Lock()
		if owner.isPOSIX() {
			delete(lt.waiting, owner.Table)
		}
		if err != nil {
			return err
		}
	}
}

// Test returns the first lock that conflicts with owner taking [start,
// end) of ino for writing (or reading), if any (F_GETLK: record locks
// only).
func (lt *Table[T, F]) Test(ino uint64, owner Owner[T, F], write bool, start, end uint64) (Held[T, F], bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	fl := lt.byIno[ino]
	if fl == nil {
		return Held[T, F]{}, false
	}
	if l := conflict(fl.record, owner, write, start, end); l != nil {
		return *l, true
	}
	return Held[T, F]{}, false
}

// DropFlockOfOtherType drops owner's flock lock on ino unless it already
// has the type write says: the first half of a conversion, which Linux
// does not make atomic.
func (lt *Table[T, F]) DropFlockOfOtherType(ino uint64, owner Owner[T, F], write bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	fl := lt.byIno[ino]
	if fl == nil {
		return
	}
	for _, l := range fl.flocks {
		if l.Owner == owner && l.Write != write {
			lt.removeOwnerLocked(ino, owner, false, true)
			return
		}
	}
}

// Locks returns copies of ino's record locks (sorted by start) and flock
// locks; ok is false if the file has none.
func (lt *Table[T, F]) Locks(ino uint64) (record, flocks []Held[T, F], ok bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	fl := lt.byIno[ino]
	if fl == nil {
		return nil, nil, false
	}
	return slices.Clone(fl.record), slices.Clone(fl.flocks), true
}

// Restore takes a Restore's locks on ino again, for owners the server
// has restored: record locks merged as Lock would, flock locks as they
// were. Nothing is reported (the client's records already hold them).
func (lt *Table[T, F]) Restore(ino uint64, record, flocks []Held[T, F]) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	fl := lt.locksOfLocked(ino)
	for _, l := range record {
		fl.record = setRange(fl.record, l.Owner, l.Start, l.End, &l)
	}
	fl.flocks = append(fl.flocks, flocks...)
	if len(fl.record) == 0 && len(fl.flocks) == 0 {
		delete(lt.byIno, ino)
	}
}
