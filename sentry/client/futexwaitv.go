package client

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/kernel/futex"
)

// futex_waitv(2) (Linux 5.16's kernel/futex/syscalls.c): a wait on up to
// futexWaitvMax futexes at once, woken by a FUTEX_WAKE of any of them. It
// runs on the client, as futex does, on the same futex manager: one
// futex.Waiter per futex, their wakeups merged into the one channel the
// task blocks on.
const (
	futexWaitvMax = 128
	// futex2SizeU32 and futex2Private are the futex2 flags a waiter may
	// carry (FUTEX2_SIZE_U32, FUTEX2_PRIVATE); 32 bits is the only size.
	futex2SizeU32  = 0x02
	futex2SizeMask = 0x03
	futex2Private  = 128
	// futexWaitvSize is sizeof(struct futex_waitv): val, uaddr, flags,
	// __reserved.
	futexWaitvSize = 24
)

// futexWaitvEntry is one parsed struct futex_waitv.
type futexWaitvEntry struct {
	addr    hostarch.Addr
	val     uint32
	private bool
}

// sysFutexWaitv is futex_waitv(waiters, nr_futexes, flags, timeout,
// clockid): it returns the index of the futex woken, EAGAIN if a futex
// does not hold its value, ETIMEDOUT at the absolute timeout on clockid.
func sysFutexWaitv(t *task, a [6]uint64) (uint64, unix.Errno) {
	waiters, nr, flags, timeoutAddr, clockid := a[0], a[1], uint32(a[2]), a[3], int32(a[4])
	if flags != 0 || nr == 0 || nr > futexWaitvMax || waiters == 0 {
		return 0, unix.EINVAL
	}
	var deadline time.Time
	var at time.Duration
	if timeoutAddr != 0 {
		if clockid != linux.CLOCK_MONOTONIC && clockid != linux.CLOCK_REALTIME {
			return 0, unix.EINVAL
		}
		d, errno := t.readTimespec(timeoutAddr)
		if errno != 0 {
			return 0, errno
		}
		if d < 0 {
			return 0, unix.EINVAL
		}
		at = d
		deadline = futexDeadline(clockid, at)
	}
	buf := make([]byte, futexWaitvSize*nr)
	if errno := t.copyIn(waiters, buf); errno != 0 {
		return 0, errno
	}
	entries := make([]futexWaitvEntry, nr)
	for i := range entries {
		b := buf[i*futexWaitvSize:]
		val, uaddr := le64(b), le64(b[8:])
		fl, reserved := hostarch.ByteOrder.Uint32(b[16:]), hostarch.ByteOrder.Uint32(b[20:])
		if reserved != 0 || fl&^(futex2SizeMask|futex2Private) != 0 || fl&futex2SizeMask != futex2SizeU32 || val > math.MaxUint32 {
			return 0, unix.EINVAL
		}
		entries[i] = futexWaitvEntry{addr: hostarch.Addr(uaddr), val: uint32(val), private: fl&futex2Private != 0}
	}
	n, errno := t.futexWaitMultiple(entries, deadline)
	if errno == unix.ETIMEDOUT {
		waitClock(clockid, at)
	}
	return n, errno
}

// futexWaitMultiple queues a waiter on each futex of entries, in order
// (a misaligned address is EINVAL, a value that differs EAGAIN, and the
// waiters queued so far leave), then waits until one is woken, the
// deadline (zero: none) or an interruption.
func (t *task) futexWaitMultiple(entries []futexWaitvEntry, deadline time.Time) (uint64, unix.Errno) {
	tgt := t.futexTarget()
	ws := make([]*futex.Waiter, 0, len(entries))
	defer func() {
		for _, w := range ws {
			t.futexes.WaitComplete(w, tgt)
		}
	}()
	for _, e := range entries {
		if e.addr&3 != 0 {
			return 0, unix.EINVAL
		}
		w := futex.NewWaiter()
		if err := t.futexes.WaitPrepare(w, tgt, e.addr, e.private, e.val, linux.FUTEX_BITSET_MATCH_ANY); err != nil {
			return 0, toErrno(err)
		}
		ws = append(ws, w)
	}
	// woken is the index of the last waiter woken (-1: none); any wakeup
	// ends the task's wait.
	var woken atomic.Int64
	woken.Store(-1)
	wake := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-w.C:
				woken.Store(int64(i))
				select {
				case wake <- struct{}{}:
				default:
				}
			case <-stop:
			}
		}()
	}
	err := t.blockOn(wake, deadline)
	close(stop)
	wg.Wait()
	if i := woken.Load(); i >= 0 {
		return uint64(i), 0
	}
	switch err {
	case errTimedOut:
		return 0, unix.ETIMEDOUT
	default:
		return 0, errRestartSys
	}
}
