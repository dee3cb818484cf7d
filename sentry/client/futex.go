package client

import (
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/kernel/futex"
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
	return f.t.mm.SwapUint32(f.Context, addr, new, usermem.IOOpts{})
}

// CompareAndSwapUint32 implements futex.Target.CompareAndSwapUint32.
func (f futexTarget) CompareAndSwapUint32(addr hostarch.Addr, old, new uint32) (uint32, error) {
	return f.t.mm.CompareAndSwapUint32(f.Context, addr, old, new, usermem.IOOpts{})
}

// LoadUint32 implements futex.Target.LoadUint32.
func (f futexTarget) LoadUint32(addr hostarch.Addr) (uint32, error) {
	return f.t.mm.LoadUint32(f.Context, addr, usermem.IOOpts{})
}

// GetSharedKey implements futex.Target.GetSharedKey.
func (f futexTarget) GetSharedKey(addr hostarch.Addr) (futex.Key, error) {
	return f.t.mm.GetSharedFutexKey(f.Context, addr)
}

// futexWait waits on addr until woken, the deadline (zero: none) or an
// interruption.
func (t *task) futexWait(addr hostarch.Addr, private bool, val, mask uint32, deadline time.Time) unix.Errno {
	tgt := t.futexTarget()
	w := futex.NewWaiter()
	if err := t.futexes.WaitPrepare(w, tgt, addr, private, val, mask); err != nil {
		return toErrno(err)
	}
	err := t.blockOn(w.C, deadline)
	t.futexes.WaitComplete(w, tgt)
	switch err {
	case nil:
		return 0
	case errTimedOut:
		return unix.ETIMEDOUT
	default:
		return errRestartSys
	}
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
		if timeoutAddr != 0 {
			d, err := t.readTimespec(timeoutAddr)
			if err != 0 {
				return 0, err
			}
			if d < 0 {
				return 0, unix.EINVAL
			}
			if cmd == linux.FUTEX_WAIT {
				// Relative timeout.
				deadline = time.Now().Add(d)
			} else {
				// Absolute on CLOCK_MONOTONIC or CLOCK_REALTIME.
				clk := int32(linux.CLOCK_MONOTONIC)
				if realtime {
					clk = linux.CLOCK_REALTIME
				}
				now, _ := clockNow(clk)
				deadline = time.Now().Add(d - now)
			}
			if !deadline.After(time.Now()) {
				deadline = time.Now().Add(-1)
			}
		}
		if errno := t.futexWait(addr, private, uint32(val), mask, deadline); errno != 0 {
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

	case linux.FUTEX_REQUEUE:
		n, err := t.futexes.Requeue(tgt, addr, naddr, private, val, nreq)
		return uint64(n), toErrno(err)

	case linux.FUTEX_CMP_REQUEUE:
		n, err := t.futexes.RequeueCmp(tgt, addr, naddr, private, val3, val, nreq)
		return uint64(n), toErrno(err)

	case linux.FUTEX_WAKE_OP:
		if val <= 0 {
			val = 1
		}
		n, err := t.futexes.WakeOp(tgt, addr, naddr, private, val, nreq, val3)
		return uint64(n), toErrno(err)

	case linux.FUTEX_LOCK_PI, linux.FUTEX_TRYLOCK_PI:
		var deadline time.Time
		if cmd == linux.FUTEX_LOCK_PI && timeoutAddr != 0 {
			d, err := t.readTimespec(timeoutAddr)
			if err != 0 {
				return 0, err
			}
			if d < 0 {
				return 0, unix.EINVAL
			}
			now, _ := clockNow(linux.CLOCK_REALTIME)
			deadline = time.Now().Add(d - now)
			if !deadline.After(time.Now()) {
				deadline = time.Now().Add(-1)
			}
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
