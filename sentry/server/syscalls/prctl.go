package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// Prctl implements the prctl(2) options the client forwards: those on
// state the server keeps, the parent-death signal and child subreaper
// (processes' lifecycle) and the timer slack (a thread's, read back
// through /proc), and the capability options (PrctlCaps). The others are
// the client's.
func Prctl(c *kernel.Task) (int64, error) {
	option, arg2 := c.Args[0], c.Args[1]
	k := c.Kernel
	th := c.Thread
	p := th.Proc
	switch option {
	case linux.PR_SET_PDEATHSIG:
		if arg2 > ksignal.NumSignals {
			return 0, unix.EINVAL
		}
		k.Mu.Lock()
		p.PdeathSignal = int(arg2)
		k.Trk.Changed(p)
		k.Mu.Unlock()
		return 0, nil
	case linux.PR_GET_PDEATHSIG:
		k.Mu.Lock()
		sig := p.PdeathSignal
		k.Mu.Unlock()
		return 0, copyOutInt32(c, arg2, int32(sig))
	case linux.PR_SET_CHILD_SUBREAPER:
		k.Mu.Lock()
		p.ChildSubreaper = arg2 != 0
		k.Trk.Changed(p)
		k.Mu.Unlock()
		return 0, nil
	case linux.PR_GET_CHILD_SUBREAPER:
		k.Mu.Lock()
		var v int32
		if p.ChildSubreaper {
			v = 1
		}
		k.Mu.Unlock()
		return 0, copyOutInt32(c, arg2, v)
	case linux.PR_SET_TIMERSLACK:
		k.Mu.Lock()
		defer k.Mu.Unlock()
		if th.Sched.IsFair() {
			// Linux leaves a real-time or deadline thread's slack
			// (always 0 for its timers) as it is.
			th.TimerSlack.Set(arg2)
			k.Trk.Changed(th)
		}
		return 0, nil
	case linux.PR_GET_TIMERSLACK:
		k.Mu.Lock()
		defer k.Mu.Unlock()
		return int64(th.TimerSlack.Get()), nil
	}
	return PrctlCaps(c)
}

// copyOutInt32 writes v as a C int at addr.
func copyOutInt32(c *kernel.Task, addr uint64, v int32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(v))
	return c.Mem.CopyOut(addr, b[:])
}
