package client

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/errors/linuxerr"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/kernel/futex"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
)

// futexTarget implements futex.Target over a task's address space.
type futexTarget struct {
	*platform.Context
	t *task
}

func (t *task) futexTarget() futexTarget { return futexTarget{Context: t.gctx, t: t} }

// SwapUint32 implements futex.Target.SwapUint32.
func (f futexTarget) SwapUint32(addr hostarch.Addr, new uint32) (uint32, error) {
	v, err := f.t.mm.SwapUint32(f.Context, addr, new, usermem.IOOpts{})
	return v, futexFault(err)
}

// CompareAndSwapUint32 implements futex.Target.CompareAndSwapUint32.
func (f futexTarget) CompareAndSwapUint32(addr hostarch.Addr, old, new uint32) (uint32, error) {
	v, err := f.t.mm.CompareAndSwapUint32(f.Context, addr, old, new, usermem.IOOpts{})
	return v, futexFault(err)
}

// LoadUint32 implements futex.Target.LoadUint32.
func (f futexTarget) LoadUint32(addr hostarch.Addr) (uint32, error) {
	v, err := f.t.mm.LoadUint32(f.Context, addr, usermem.IOOpts{})
	return v, futexFault(err)
}

// futexFault is the error of a futex word that cannot be accessed: EFAULT,
// whatever the mm said (it says EPERM for a mapping without the access).
func futexFault(err error) error {
	if err != nil {
		return linuxerr.EFAULT
	}
	return nil
}

// GetSharedKey implements futex.Target.GetSharedKey. As Linux's
// get_futex_key, which faults the page in, it fails with EFAULT for an
// address that is unmapped, not readable, or beyond the end of the file
// it maps (gVisor's mm says EPERM for the first two and takes the last).
func (f futexTarget) GetSharedKey(addr hostarch.Addr) (futex.Key, error) {
	k, err := f.t.mm.GetSharedFutexKey(f.Context, addr)
	if err != nil {
		return futex.Key{}, linuxerr.EFAULT
	}
	if k.Kind == futex.KindSharedMappable && k.Mappable != nil {
		start := k.Offset &^ (hostarch.PageSize - 1)
		r := memmap.MappableRange{Start: start, End: start + hostarch.PageSize}
		if _, err := k.Mappable.Translate(f.Context, r, r, hostarch.Read); err != nil {
			if k.MappingIdentity != nil {
				k.MappingIdentity.DecRef(f.Context)
			}
			return futex.Key{}, linuxerr.EFAULT
		}
	}
	return k, nil
}

// futexID names what a futex waiter waits on, as futex.Key's matching
// does; private keys (addresses) are qualified by the address space's
// futex manager.
type futexID struct {
	mgr      *futex.Manager
	kind     futex.KeyKind
	mappable memmap.Mappable
	offset   uint64
}

// futexID returns the id of the futex at addr.
func (t *task) futexID(addr hostarch.Addr, private bool) (futexID, error) {
	if addr&3 != 0 {
		return futexID{}, linuxerr.EINVAL
	}
	if private {
		return futexID{mgr: t.futexes, kind: futex.KindPrivate, offset: uint64(addr)}, nil
	}
	k, err := t.futexTarget().GetSharedKey(addr)
	if err != nil {
		return futexID{}, err
	}
	if k.MappingIdentity != nil {
		k.MappingIdentity.DecRef(t.gctx)
	}
	if k.Kind != futex.KindSharedMappable {
		return futexID{mgr: t.futexes, kind: k.Kind, offset: k.Offset}, nil
	}
	return futexID{kind: k.Kind, mappable: k.Mappable, offset: k.Offset}, nil
}

// futexWaiters records the client's tasks waiting in futexWait and what
// on, so that a requeue can say how many waiters it moved: gVisor's
// futex.Manager returns only how many it woke, and Linux's FUTEX_REQUEUE
// and FUTEX_CMP_REQUEUE return both.
type futexWaiters struct {
	// mu protects the fields below. It is taken before the futex
	// manager's bucket locks (around WaitPrepare and the requeues).
	mu sync.Mutex
	// seq numbers the waiters in the order they queued.
	seq uint64
	// waiting maps each queued waiter to what it waits on.
	waiting map[*futex.Waiter]*futexWaiting
}

type futexWaiting struct {
	id  futexID
	seq uint64
	// done is set as soon as the waiter's wait ended (woken, timed out,
	// interrupted), before it leaves waiting.
	done atomic.Bool
}

// futexRequeue wakes up to nwake waiters of addr and moves up to nreq of
// the others to naddr (if cmp, only if addr holds val), returning how many
// it woke and moved.
func (t *task) futexRequeue(addr, naddr hostarch.Addr, private, cmp bool, val uint32, nwake, nreq int) (int, error) {
	if nwake < 0 || nreq < 0 {
		return 0, linuxerr.EINVAL
	}
	from, err := t.futexID(addr, private)
	if err != nil {
		return 0, err
	}
	to, err := t.futexID(naddr, private)
	if err != nil {
		return 0, err
	}
	tgt := t.futexTarget()
	fw := &t.c.futexWaiters
	fw.mu.Lock()
	defer fw.mu.Unlock()
	// The waiters queued on addr, in queue order (taken before the
	// requeue: a woken waiter may take its wakeup at once): the manager
	// wakes the first nwake of them and moves the next nreq.
	var queued []*futexWaiting
	for w, e := range fw.waiting {
		if e.id == from && len(w.C) == 0 && !e.done.Load() {
			queued = append(queued, e)
		}
	}
	sort.Slice(queued, func(i, j int) bool { return queued[i].seq < queued[j].seq })
	var woken int
	if cmp {
		woken, err = t.futexes.RequeueCmp(tgt, addr, naddr, private, val, nwake, nreq)
	} else {
		woken, err = t.futexes.Requeue(tgt, addr, naddr, private, nwake, nreq)
	}
	if err != nil {
		return 0, err
	}
	left := queued[min(woken, len(queued)):]
	moved := min(nreq, len(left))
	for _, e := range left[:moved] {
		e.id = to
	}
	return woken + moved, nil
}

// futexWait waits on addr until woken, the deadline (zero: none) or an
// interruption.
func (t *task) futexWait(addr hostarch.Addr, private bool, val, mask uint32, deadline time.Time) unix.Errno {
	tgt := t.futexTarget()
	id, err := t.futexID(addr, private)
	if err != nil {
		return toErrno(err)
	}
	w := futex.NewWaiter()
	fw := &t.c.futexWaiters
	fw.mu.Lock()
	if err := t.futexes.WaitPrepare(w, tgt, addr, private, val, mask); err != nil {
		fw.mu.Unlock()
		return toErrno(err)
	}
	if fw.waiting == nil {
		fw.waiting = make(map[*futex.Waiter]*futexWaiting)
	}
	fw.seq++
	e := &futexWaiting{id: id, seq: fw.seq}
	fw.waiting[w] = e
	fw.mu.Unlock()
	err = t.blockOn(w.C, deadline)
	e.done.Store(true)
	t.futexes.WaitComplete(w, tgt)
	fw.mu.Lock()
	delete(fw.waiting, w)
	fw.mu.Unlock()
	switch err {
	case nil:
		return 0
	case errTimedOut:
		return unix.ETIMEDOUT
	default:
		return errRestartSys
	}
}

// futexDeadline returns the host time.Time of absolute time at on clock
// clk, already past if at is (a wait then times out at once, not
// never). A wait that times out at it ends with waitClock(clk, at), so
// that the application's clock then reads at least at.
func futexDeadline(clk int32, at time.Duration) time.Time {
	deadline := hostDeadline(clk, at)
	if !deadline.After(time.Now()) {
		deadline = time.Now().Add(-1)
	}
	return deadline
}

func sysFutex(t *task, a [6]uint64) (uint64, unix.Errno) {
	addr := hostarch.Addr(a[0])
	op := int32(a[1])
	val := int(int32(a[2]))
	timeoutAddr := a[3]
	nreq := int(int32(a[3]))
	naddr := hostarch.Addr(a[4])
	val3 := uint32(a[5])
	cmd := op &^ (linux.FUTEX_PRIVATE_FLAG | linux.FUTEX_CLOCK_REALTIME)
	private := op&linux.FUTEX_PRIVATE_FLAG != 0
	realtime := op&linux.FUTEX_CLOCK_REALTIME != 0
	tgt := t.futexTarget()

	switch cmd {
	case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET:
		mask := val3
		if cmd == linux.FUTEX_WAIT {
			mask = linux.FUTEX_BITSET_MATCH_ANY
		} else if mask == 0 {
			return 0, unix.EINVAL
		}
		var deadline time.Time
		clk, at := int32(linux.CLOCK_MONOTONIC), time.Duration(0)
		if timeoutAddr != 0 {
			d, err := t.readTimespec(timeoutAddr)
			if err != 0 {
				return 0, err
			}
			if d < 0 {
				return 0, unix.EINVAL
			}
			if cmd == linux.FUTEX_WAIT {
				// Relative timeout, measured on CLOCK_MONOTONIC
				// (Linux's futex_wait: now plus the timeout).
				now, _ := clockNow(clk)
				at = now + d
			} else {
				// Absolute on CLOCK_MONOTONIC or CLOCK_REALTIME.
				if realtime {
					clk = linux.CLOCK_REALTIME
				}
				at = d
			}
			deadline = futexDeadline(clk, at)
		}
		if errno := t.futexWait(addr, private, uint32(val), mask, deadline); errno != 0 {
			if errno == unix.ETIMEDOUT {
				waitClock(clk, at)
			}
			return 0, errno
		}
		return 0, 0

	case linux.FUTEX_WAKE, linux.FUTEX_WAKE_BITSET:
		mask := ^uint32(0)
		if cmd == linux.FUTEX_WAKE_BITSET {
			mask = val3
			if mask == 0 {
				return 0, unix.EINVAL
			}
		}
		if val <= 0 {
			val = 1
		}
		n, err := t.futexes.Wake(tgt, addr, private, mask, val)
		return uint64(n), toErrno(err)

	case linux.FUTEX_REQUEUE, linux.FUTEX_CMP_REQUEUE:
		n, err := t.futexRequeue(addr, naddr, private, cmd == linux.FUTEX_CMP_REQUEUE, val3, val, nreq)
		return uint64(n), toErrno(err)

	case linux.FUTEX_WAKE_OP:
		if val <= 0 {
			val = 1
		}
		n, err := t.futexes.WakeOp(tgt, addr, naddr, private, val, nreq, val3)
		return uint64(n), toErrno(err)

	case linux.FUTEX_LOCK_PI, linux.FUTEX_TRYLOCK_PI:
		var deadline time.Time
		var at time.Duration
		if cmd == linux.FUTEX_LOCK_PI && timeoutAddr != 0 {
			d, err := t.readTimespec(timeoutAddr)
			if err != 0 {
				return 0, err
			}
			if d < 0 {
				return 0, unix.EINVAL
			}
			at = d
			deadline = futexDeadline(linux.CLOCK_REALTIME, at)
		}
		w := futex.NewWaiter()
		locked, err := t.futexes.LockPI(w, tgt, addr, uint32(t.tid), private, cmd == linux.FUTEX_TRYLOCK_PI)
		if err != nil {
			return 0, toErrno(err)
		}
		if locked {
			return 0, 0
		}
		if cmd == linux.FUTEX_TRYLOCK_PI {
			return 0, unix.EWOULDBLOCK
		}
		berr := t.blockOn(w.C, deadline)
		t.futexes.WaitComplete(w, tgt)
		switch berr {
		case nil:
			return 0, 0
		case errTimedOut:
			waitClock(linux.CLOCK_REALTIME, at)
			return 0, unix.ETIMEDOUT
		default:
			return 0, errRestartSys
		}

	case linux.FUTEX_UNLOCK_PI:
		return 0, toErrno(t.futexes.UnlockPI(tgt, addr, uint32(t.tid), private))

	default:
		return 0, unix.ENOSYS
	}
}
