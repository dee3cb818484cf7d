package lease

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// Rank orders lease types: none < read < write.
type Rank int

// The lease types, in their order.
const (
	None Rank = iota
	Read
	Write
)

// RankOfType is the rank of F_SETLEASE's type t (F_UNLCK, F_RDLCK,
// F_WRLCK); false for any other.
func RankOfType(t int32) (Rank, bool) {
	switch t {
	case unix.F_UNLCK:
		return None, true
	case unix.F_RDLCK:
		return Read, true
	case unix.F_WRLCK:
		return Write, true
	}
	return 0, false
}

// FcntlType is r as F_GETLEASE reports it.
func (r Rank) FcntlType() int32 {
	switch r {
	case Read:
		return unix.F_RDLCK
	case Write:
		return unix.F_WRLCK
	}
	return unix.F_UNLCK
}

// DefaultBreakTime is Linux's lease-break-time, in seconds.
const DefaultBreakTime = 45

// holder is one description's lease.
type holder struct {
	rank Rank
	// fd is the fd F_SETLEASE named (si_fd of the break signal).
	fd int32
}

// inodeLeases are the leases on one file.
type inodeLeases[F comparable] struct {
	holders map[F]holder
	// breaking says a break is in progress: holders above breakTo must
	// come down to it before deadline.
	breaking bool
	breakTo  Rank
	deadline time.Time
	// pendingReads and pendingWrites count the opens waiting on a break:
	// they count as open (Linux has taken their open counts already).
	pendingReads, pendingWrites int
	// changed wakes the breakers when a lease changes.
	changed wake.Notifier
}

// conflicts reports whether an open (for writing if write) must break a
// lease.
func (il *inodeLeases[F]) conflicts(write bool) bool {
	for _, h := range il.holders {
		if h.rank == Write || write {
			return true
		}
	}
	return false
}

// settleLocked ends a break that is over.
func (il *inodeLeases[F]) settleLocked() {
	if !il.breaking {
		return
	}
	for _, h := range il.holders {
		if h.rank > il.breakTo {
			return
		}
	}
	il.breaking = false
}

// checkAddLocked says whether f may hold a lease of rank, given the other
// descriptions open for reading and writing (EAGAIN if not).
func (il *inodeLeases[F]) checkAddLocked(f F, rank Rank, readers, writers int) error {
	switch rank {
	case Read:
		if writers > 0 || il.pendingWrites > 0 {
			return unix.EAGAIN
		}
	case Write:
		if readers+writers > 0 || il.pendingReads+il.pendingWrites > 0 {
			return unix.EAGAIN
		}
	}
	for of, h := range il.holders {
		if of == f {
			continue
		}
		if rank == Write || h.rank == Write || il.breaking {
			return unix.EAGAIN
		}
	}
	return nil
}

// Table is a client's leases, by inode number. F is the type of a
// lease's holder (an open file description).
type Table[F comparable] struct {
	// mu protects the fields below. It is a leaf: nothing is taken inside
	// it.
	mu    sync.Mutex
	byIno map[uint64]*inodeLeases[F]
	// breakTime is lease-break-time, in seconds.
	breakTime int
}

// NewTable returns an empty table with Linux's lease-break-time.
func NewTable[F comparable]() *Table[F] {
	return &Table[F]{byIno: make(map[uint64]*inodeLeases[F]), breakTime: DefaultBreakTime}
}

// BreakTime returns lease-break-time.
func (lt *Table[F]) BreakTime() int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.breakTime
}

// SetBreakTime sets lease-break-time.
func (lt *Table[F]) SetBreakTime(s int) {
	lt.mu.Lock()
	lt.breakTime = s
	lt.mu.Unlock()
}

// dropLocked forgets il once nothing refers to it.
func (lt *Table[F]) dropLocked(ino uint64, il *inodeLeases[F]) {
	if len(il.holders) == 0 && il.pendingReads == 0 && il.pendingWrites == 0 && lt.byIno[ino] == il {
		delete(lt.byIno, ino)
	}
}

// leasesOfLocked returns ino's leases, made if needed. Precondition: mu.
func (lt *Table[F]) leasesOfLocked(ino uint64) *inodeLeases[F] {
	il := lt.byIno[ino]
	if il == nil {
		il = &inodeLeases[F]{holders: make(map[F]holder)}
		lt.byIno[ino] = il
	}
	return il
}

// Get is F_GETLEASE: f's lease on ino as the application sees it (the
// rank a break in progress brings it down to), None if it holds none.
func (lt *Table[F]) Get(ino uint64, f F) Rank {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	il := lt.byIno[ino]
	if il == nil {
		return None
	}
	h, ok := il.holders[f]
	if !ok {
		return None
	}
	if il.breaking && h.rank > il.breakTo {
		return il.breakTo
	}
	return h.rank
}

// Set gives f a lease of rank (not None) on ino, taken through fd, or
// fails with EAGAIN as Linux does: readers and writers count the other
// descriptions open on the file, a conflicting open or another holder's
// conflicting lease refuses it.
func (lt *Table[F]) Set(ino uint64, f F, rank Rank, fd int32, readers, writers int) error {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	il := lt.leasesOfLocked(ino)
	err := il.checkAddLocked(f, rank, readers, writers)
	if err == nil {
		il.holders[f] = holder{rank: rank, fd: fd}
		il.settleLocked()
		il.changed.Notify()
	}
	lt.dropLocked(ino, il)
	return err
}

// Release removes f's lease on ino, reporting whether it had one.
func (lt *Table[F]) Release(ino uint64, f F) bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	il := lt.byIno[ino]
	if il == nil {
		return false
	}
	if _, ok := il.holders[f]; !ok {
		return false
	}
	delete(il.holders, f)
	il.settleLocked()
	il.changed.Notify()
	lt.dropLocked(ino, il)
	return true
}

// LeaseOf returns f's lease on ino and the fd it was taken through.
func (lt *Table[F]) LeaseOf(ino uint64, f F) (Rank, int32, bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if il := lt.byIno[ino]; il != nil {
		if h, ok := il.holders[f]; ok {
			return h.rank, h.fd, true
		}
	}
	return 0, 0, false
}

// Restore gives restored description f its lease on ino again.
func (lt *Table[F]) Restore(ino uint64, f F, rank Rank, fd int32) {
	if rank == None {
		return
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.leasesOfLocked(ino).holders[f] = holder{rank: rank, fd: fd}
}

// Conflicts says whether an open of ino (for writing if write) would
// break a lease now: an open made for no application's call (the
// server's leases ahead) is not made then, so that no holder is
// notified of it.
func (lt *Table[F]) Conflicts(ino uint64, write bool) bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	il := lt.byIno[ino]
	return il != nil && il.conflicts(write)
}

// Break is called before ino is opened (for writing if write, or
// truncated): the leases that conflict are broken, and the call waits
// for their holders to come down, at most lease-break-time, after which
// their leases are taken away. notify is called, with no lock held, for
// each holder that must come down (its break signal); changed for each
// holder whose lease was taken away; block waits on a channel until it
// is closed or the timeout fires (ETIMEDOUT), or returns the error that
// ends the wait. With nonblock a conflict is EWOULDBLOCK once the
// holders are notified.
func (lt *Table[F]) Break(ino uint64, write, nonblock bool, notify func(f F, fd int32), changed func(f F), block func(ch <-chan struct{}, timeout <-chan time.Time) error) error {
	lt.mu.Lock()
	il := lt.byIno[ino]
	if il == nil || !il.conflicts(write) {
		lt.mu.Unlock()
		return nil
	}
	if write {
		il.pendingWrites++
	} else {
		il.pendingReads++
	}
	defer func() {
		lt.mu.Lock()
		if write {
			il.pendingWrites--
		} else {
			il.pendingReads--
		}
		lt.dropLocked(ino, il)
		lt.mu.Unlock()
	}()
	target := Read
	if write {
		target = None
	}
	type notice struct {
		f  F
		fd int32
	}
	var notices []notice
	if !il.breaking || target < il.breakTo {
		if !il.breaking {
			il.deadline = time.Now().Add(time.Duration(lt.breakTime) * time.Second)
		}
		il.breaking, il.breakTo = true, target
		for f, h := range il.holders {
			if h.rank > target {
				notices = append(notices, notice{f, h.fd})
			}
		}
	}
	lt.mu.Unlock()
	for _, n := range notices {
		notify(n.f, n.fd)
	}
	if nonblock {
		return unix.EWOULDBLOCK
	}
	for {
		lt.mu.Lock()
		if !il.conflicts(write) {
			lt.mu.Unlock()
			return nil
		}
		left := time.Until(il.deadline)
		if left <= 0 {
			// lease-break-time passed: take the leases away.
			var taken []F
			for f, h := range il.holders {
				if h.rank > target {
					if target == None {
						delete(il.holders, f)
					} else {
						il.holders[f] = holder{rank: target, fd: h.fd}
					}
					taken = append(taken, f)
				}
			}
			il.settleLocked()
			il.changed.Notify()
			lt.mu.Unlock()
			for _, f := range taken {
				changed(f)
			}
			return nil
		}
		ch := il.changed.Wait()
		lt.mu.Unlock()
		if err := block(ch, time.After(left)); err != nil && err != unix.ETIMEDOUT {
			return err
		}
	}
}
