package server

import (
	"encoding/binary"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Advisory file locks: POSIX record locks (fcntl F_SETLK, owned by an fd
// table, Linux's files_struct, and dropped when that table closes any fd
// of the file), open file description locks (F_OFD_SETLK, owned by the
// description and dropped with it) and flock(2) locks (whole-file, owned
// by the description, in a space of their own). POSIX and OFD locks
// conflict with each other.
//
// Locks are server state the client cannot rebuild by itself: every
// change reports the file's LockState (key lock/<ino>), and a Restore
// takes them again for the same owners. gVisor's fsimpl/lock implements
// the same range rules, but it cannot list the locks it holds (which the
// replay log needs) nor detect deadlocks, so the table is this file's.

// lockEOF is the end of a lock that extends to the end of the file
// (l_len 0), whatever its size becomes.
const lockEOF = ^uint64(0)

// maxDeadlockDepth bounds the walk of the wait-for chain, as Linux's
// MAX_DEADLK_ITERATIONS.
const maxDeadlockDepth = 10

// lockMand is flock's LOCK_MAND, which Linux ignores.
const lockMand = 32

// lockOwner is who holds a lock: a POSIX lock's fd table, or an OFD or
// flock lock's open file description.
type lockOwner struct {
	tab *fdTable
	f   *file
}

// heldLock is one lock: [start, end) of a file.
type heldLock struct {
	owner      lockOwner
	write      bool
	start, end uint64
	// pid is F_GETLK's l_pid: the locking process of a POSIX lock, -1
	// for an OFD lock.
	pid int32
}

func (l *heldLock) overlaps(start, end uint64) bool { return l.start < end && start < l.end }

// fileLocks are the locks on one file.
type fileLocks struct {
	// record holds POSIX and OFD locks, sorted by start; flocks the
	// flock(2) locks (whole file).
	record, flocks []heldLock
	// changed wakes waiters when a lock goes.
	changed wake.Notifier
}

// lockTable is a client's locks, by inode number of the file.
type lockTable struct {
	// mu protects the fields below. It nests inside clientState.mu and
	// fdTable.mu, and nothing is taken inside it but replay.Tracker.mu.
	mu    sync.Mutex
	byIno map[uint64]*fileLocks
	// waiting maps a POSIX owner blocked in F_SETLKW to the owner of the
	// lock it waits for (deadlock detection).
	waiting map[*fdTable]*fdTable
	// trk receives changes (lock/<ino> records). Immutable.
	trk *stateTracker
}

func newLockTable(trk *stateTracker) *lockTable {
	return &lockTable{byIno: make(map[uint64]*fileLocks), waiting: make(map[*fdTable]*fdTable), trk: trk}
}

// conflict returns the first lock of locks that keeps owner from taking
// [start, end) for writing (or reading), or nil.
func conflict(locks []heldLock, owner lockOwner, write bool, start, end uint64) *heldLock {
	for i := range locks {
		l := &locks[i]
		if l.owner != owner && l.overlaps(start, end) && (write || l.write) {
			return l
		}
	}
	return nil
}

// setRange makes owner's locks on [start, end) of locks nl (nl nil:
// unlock), splitting and merging owner's other locks as Linux does, and
// returns the new list.
func setRange(locks []heldLock, owner lockOwner, start, end uint64, nl *heldLock) []heldLock {
	out := make([]heldLock, 0, len(locks)+2)
	for _, l := range locks {
		if l.owner != owner || !l.overlaps(start, end) {
			out = append(out, l)
			continue
		}
		if l.start < start {
			left := l
			left.end = start
			out = append(out, left)
		}
		if l.end > end {
			right := l
			right.start = end
			out = append(out, right)
		}
	}
	if nl != nil {
		out = append(out, *nl)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start < out[j].start })
	// Merge touching locks of one owner and type.
	merged := out[:0]
	for _, l := range out {
		if n := len(merged); n > 0 {
			for i := n - 1; i >= 0; i-- {
				m := &merged[i]
				if m.owner == l.owner && m.write == l.write && m.end >= l.start && m.start <= l.end {
					m.end = max(m.end, l.end)
					m.start = min(m.start, l.start)
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
func (lt *lockTable) locksOfLocked(ino uint64) *fileLocks {
	fl := lt.byIno[ino]
	if fl == nil {
		fl = &fileLocks{}
		lt.byIno[ino] = fl
	}
	return fl
}

// changedLocked reports ino's locks and wakes its waiters. Precondition:
// mu.
func (lt *lockTable) changedLocked(ino uint64, fl *fileLocks) {
	fl.changed.Notify()
	if len(fl.record) == 0 && len(fl.flocks) == 0 {
		delete(lt.byIno, ino)
	}
	lt.trk.markLocks(ino)
}

// removeOwner drops owner's locks on ino (record locks, flock locks or
// both), if it holds any.
func (lt *lockTable) removeOwner(ino uint64, owner lockOwner, record, flock bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.removeOwnerLocked(ino, owner, record, flock)
}

func (lt *lockTable) removeOwnerLocked(ino uint64, owner lockOwner, record, flock bool) {
	fl := lt.byIno[ino]
	if fl == nil {
		return
	}
	changed := false
	drop := func(locks []heldLock) []heldLock {
		out := locks[:0]
		for _, l := range locks {
			if l.owner == owner {
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

// fdClosed drops the POSIX locks tab holds on f's file: closing any fd
// of a file releases them (fcntl(2)). Called with tab.mu held.
func (lt *lockTable) fdClosed(tab *fdTable, f *file) {
	if lt == nil {
		return
	}
	if ino, ok := lockIno(f); ok {
		lt.removeOwner(ino, lockOwner{tab: tab}, true, false)
	}
}

// fileReleased drops the OFD and flock locks of description f (its last
// reference went).
func (lt *lockTable) fileReleased(f *file) {
	if ino, ok := lockIno(f); ok {
		lt.removeOwner(ino, lockOwner{f: f}, true, true)
	}
}

// lockIno returns the inode number that keys f's locks. Only files of the
// gofer's tree can be locked: their inode numbers stay the same across a
// server restart, so the locks can be taken again.
func lockIno(f *file) (uint64, bool) {
	if f.d == nil || f.d.kind != dkGofer {
		return 0, false
	}
	return f.d.ino, true
}

// lock takes (or, with nl nil, releases) owner's lock on [start, end) of
// ino: in the flock space if flock. With wait it blocks until no other
// owner's lock conflicts, interruptibly (ERESTARTSYS); a POSIX waiter
// whose wait would close a cycle of POSIX owners gets EDEADLK instead.
func (lt *lockTable) lock(c *syscallCtx, ino uint64, owner lockOwner, flock bool, start, end uint64, nl *heldLock, wait bool) error {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for {
		fl := lt.locksOfLocked(ino)
		list := &fl.record
		if flock {
			list = &fl.flocks
		}
		var blocker *heldLock
		if nl != nil {
			blocker = conflict(*list, owner, nl.write, start, end)
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
		if !wait {
			if len(fl.record) == 0 && len(fl.flocks) == 0 {
				delete(lt.byIno, ino)
			}
			return unix.EAGAIN
		}
		if owner.tab != nil && blocker.owner.tab != nil {
			for o, n := blocker.owner.tab, 0; o != nil && n < maxDeadlockDepth; o, n = lt.waiting[o], n+1 {
				if o == owner.tab {
					return unix.EDEADLK
				}
			}
			lt.waiting[owner.tab] = blocker.owner.tab
		}
		ch := fl.changed.Wait()
		lt.mu.Unlock()
		err := c.block(ch, nil)
		lt.mu.Lock()
		if owner.tab != nil {
			delete(lt.waiting, owner.tab)
		}
		if err != nil {
			return err
		}
	}
}

// test returns the first lock that conflicts with owner taking [start,
// end) of ino for writing (or reading), if any.
func (lt *lockTable) test(ino uint64, owner lockOwner, write bool, start, end uint64) (heldLock, bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	fl := lt.byIno[ino]
	if fl == nil {
		return heldLock{}, false
	}
	if l := conflict(fl.record, owner, write, start, end); l != nil {
		return *l, true
	}
	return heldLock{}, false
}

// ---- fcntl and flock ----

// struct flock (amd64).
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
func (c *syscallCtx) lockRange(f *file, a flockArg) (uint64, uint64, error) {
	var base int64
	switch a.whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		f.mu.Lock()
		base = f.off
		f.mu.Unlock()
	case unix.SEEK_END:
		st, err := c.statOf(nil, f)
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
		return uint64(start), lockEOF, nil
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

// fcntlLock implements F_GETLK, F_SETLK, F_SETLKW and their F_OFD_ forms
// on f.
func (c *syscallCtx) fcntlLock(f *file, cmd int) (int64, error) {
	b, err := c.mem.CopyIn(c.args[2], sizeofFlock)
	if err != nil {
		return 0, err
	}
	if f.isPath() {
		return 0, unix.EBADF
	}
	a := parseFlock(b)
	ofd := cmd == fOFDGetlk || cmd == fOFDSetlk || cmd == fOFDSetlkw
	if ofd && a.pid != 0 {
		return 0, unix.EINVAL
	}
	if a.typ != unix.F_RDLCK && a.typ != unix.F_WRLCK && a.typ != unix.F_UNLCK {
		return 0, unix.EINVAL
	}
	start, end, err := c.lockRange(f, a)
	if err != nil {
		return 0, err
	}
	ino, ok := lockIno(f)
	if !ok {
		logUnsupportedOnce(c.k, "fcntl locks on a file outside the gofer's tree")
		return 0, unix.ENOLCK
	}
	owner := lockOwner{f: f}
	pid := int32(-1)
	if !ofd {
		tab, err := c.fdTable()
		if err != nil {
			return 0, err
		}
		owner, pid = lockOwner{tab: tab}, c.pid()
	}
	lt := c.k.locks
	if cmd == unix.F_GETLK || cmd == fOFDGetlk {
		if a.typ == unix.F_UNLCK {
			return 0, unix.EINVAL
		}
		l, found := lt.test(ino, owner, a.typ == unix.F_WRLCK, start, end)
		if !found {
			binary.LittleEndian.PutUint16(b[0:], unix.F_UNLCK)
			return 0, c.mem.CopyOut(c.args[2], b)
		}
		typ, length := uint16(unix.F_RDLCK), int64(0)
		if l.write {
			typ = unix.F_WRLCK
		}
		if l.end != lockEOF {
			length = int64(l.end - l.start)
		}
		out := make([]byte, sizeofFlock)
		binary.LittleEndian.PutUint16(out[0:], typ)
		binary.LittleEndian.PutUint16(out[2:], unix.SEEK_SET)
		binary.LittleEndian.PutUint64(out[8:], l.start)
		binary.LittleEndian.PutUint64(out[16:], uint64(length))
		binary.LittleEndian.PutUint32(out[24:], uint32(l.pid))
		return 0, c.mem.CopyOut(c.args[2], out)
	}
	var nl *heldLock
	switch a.typ {
	case unix.F_RDLCK:
		if !f.readable() {
			return 0, unix.EBADF
		}
		nl = &heldLock{owner: owner, start: start, end: end, pid: pid}
	case unix.F_WRLCK:
		if !f.writable() {
			return 0, unix.EBADF
		}
		nl = &heldLock{owner: owner, write: true, start: start, end: end, pid: pid}
	}
	if ofd {
		f.locks.Store(lt)
	}
	wait := cmd == unix.F_SETLKW || cmd == fOFDSetlkw
	return 0, lt.lock(c, ino, owner, false, start, end, nl, wait)
}

func sysFlock(c *syscallCtx) (int64, error) {
	f, err := c.fileArg(0)
	if err != nil {
		return 0, err
	}
	defer f.decRef()
	op := int(c.args[1])
	if op&lockMand != 0 {
		// Linux ignores the removed LOCK_MAND locks: success.
		logUnsupportedOnce(c.k, "flock LOCK_MAND")
		return 0, nil
	}
	nonblock := op&unix.LOCK_NB != 0
	ino, ok := lockIno(f)
	if !ok {
		logUnsupportedOnce(c.k, "flock on a file outside the gofer's tree")
		return 0, unix.ENOLCK
	}
	lt := c.k.locks
	owner := lockOwner{f: f}
	switch op &^ unix.LOCK_NB {
	case unix.LOCK_UN:
		return 0, lt.lock(c, ino, owner, true, 0, lockEOF, nil, false)
	case unix.LOCK_SH, unix.LOCK_EX:
		f.locks.Store(lt)
		nl := &heldLock{owner: owner, write: op&^unix.LOCK_NB == unix.LOCK_EX, end: lockEOF, pid: -1}
		// A conversion drops the old lock first, as Linux does (it is
		// not atomic).
		lt.flockDrop(ino, owner, nl.write)
		err := lt.lock(c, ino, owner, true, 0, lockEOF, nl, !nonblock)
		if err == unix.EAGAIN {
			err = unix.EWOULDBLOCK
		}
		return 0, err
	}
	return 0, unix.EINVAL
}

// flockDrop drops owner's flock lock on ino unless it already has the
// type write says (a conversion).
func (lt *lockTable) flockDrop(ino uint64, owner lockOwner, write bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	fl := lt.byIno[ino]
	if fl == nil {
		return
	}
	for _, l := range fl.flocks {
		if l.owner == owner && l.write != write {
			lt.removeOwnerLocked(ino, owner, false, true)
			return
		}
	}
}

// ---- replay state ----

// recordLocked describes ino's locks. Preconditions: clientState.mu is
// held (for the ids of fd tables).
func (k *clientState) lockRecordLocked(ino uint64) *sentrypb.StateRecord {
	lt := k.locks
	lt.mu.Lock()
	defer lt.mu.Unlock()
	fl := lt.byIno[ino]
	if fl == nil {
		return deletedRec(statekey.Lock(ino))
	}
	st := &sentrypb.LockState{Ino: ino}
	add := func(l heldLock, flock bool) {
		hl := &sentrypb.HeldLock{Flock: flock, Write: l.write, Start: l.start, End: l.end, Pid: l.pid}
		if l.owner.tab != nil {
			hl.FdTable = k.fdTableIDLocked(l.owner.tab)
		} else {
			hl.File = k.fileID(l.owner.f)
		}
		st.Locks = append(st.Locks, hl)
	}
	for _, l := range fl.record {
		add(l, false)
	}
	for _, l := range fl.flocks {
		add(l, true)
	}
	return &sentrypb.StateRecord{Key: statekey.Lock(ino).String(), Value: &sentrypb.StateRecord_Lock{Lock: st}}
}

// restoreLocksLocked takes the locks of a Restore again for their
// restored owners; a lock whose owner was not restored is dropped.
// Precondition: clientState.mu is held.
func (k *clientState) restoreLocksLocked(states []*sentrypb.LockState, tabs map[uint64]*fdTable, files map[uint64]*file) {
	lt := k.locks
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for _, st := range states {
		fl := lt.locksOfLocked(st.Ino)
		for _, hl := range st.Locks {
			l := heldLock{write: hl.Write, start: hl.Start, end: hl.End, pid: hl.Pid}
			switch {
			case hl.FdTable != 0 && tabs[hl.FdTable] != nil:
				l.owner.tab = tabs[hl.FdTable]
			case hl.File != 0 && files[hl.File] != nil:
				l.owner.f = files[hl.File]
				l.owner.f.locks.Store(lt)
			default:
				k.log.Warn("restore: lock of an owner that was not restored", "ino", st.Ino, "table", hl.FdTable, "file", hl.File)
				continue
			}
			if hl.Flock {
				fl.flocks = append(fl.flocks, l)
			} else {
				fl.record = setRange(fl.record, l.owner, l.start, l.end, &l)
			}
		}
		if len(fl.record) == 0 && len(fl.flocks) == 0 {
			delete(lt.byIno, st.Ino)
		}
	}
}
