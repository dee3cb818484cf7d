package syscalls

import (
	"encoding/binary"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
)

// This file holds the system calls of the timers that raise signals
// (package kernel's timers.go): alarm, setitimer, getitimer and the POSIX
// timers' timer_*.

const (
	// maxTimersPerProcess bounds timer_create (EAGAIN beyond).
	maxTimersPerProcess = 1024

	timerAbstime = 1

	sizeofSigevent = 64
)

// Alarm implements alarm(2).
func Alarm(c *kernel.Task) (int64, error) {
	secs := time.Duration(uint32(c.Args[0])) * time.Second
	_, old, err := c.SetItimerReal(0, secs)
	if err != nil {
		return 0, err
	}
	// Seconds left, rounded to nearest, and never 0 while armed.
	left := int64((old + 500*time.Millisecond) / time.Second)
	if left == 0 && old > 0 {
		left = 1
	}
	return left, nil
}

// Setitimer implements setitimer(2).
func Setitimer(c *kernel.Task) (int64, error) {
	which, newAddr, oldAddr := int32(c.Args[0]), c.Args[1], c.Args[2]
	if which != unix.ITIMER_REAL {
		return 0, unsupportedItimer(c, which)
	}
	var interval, value time.Duration
	if newAddr != 0 {
		b, err := c.Mem.CopyIn(newAddr, ktimer.SizeofItimerval)
		if err != nil {
			return 0, err
		}
		if interval, value, err = ktimer.ParseItimerval(b); err != nil {
			return 0, err
		}
	}
	oi, ov, err := c.SetItimerReal(interval, value)
	if err != nil {
		return 0, err
	}
	if oldAddr != 0 {
		return 0, c.Mem.CopyOut(oldAddr, ktimer.ItimerBytes(oi, ov, true))
	}
	return 0, nil
}

// Getitimer implements getitimer(2).
func Getitimer(c *kernel.Task) (int64, error) {
	which, addr := int32(c.Args[0]), c.Args[1]
	if which != unix.ITIMER_REAL {
		return 0, unsupportedItimer(c, which)
	}
	k := c.Kernel
	k.Mu.Lock()
	var interval, value time.Duration
	if tm := c.Thread.Proc.Timers[kernel.ITimerRealID]; tm != nil {
		interval, value = ktimer.SpecOf(tm.Timer.Get())
	}
	k.Mu.Unlock()
	return 0, c.Mem.CopyOut(addr, ktimer.ItimerBytes(interval, value, true))
}

// unsupportedItimer is the error for ITIMER_VIRTUAL and ITIMER_PROF
// (logged once): they count the application's CPU time, which the client
// measures, and the client keeps them; one never forwards them.
func unsupportedItimer(c *kernel.Task, which int32) error {
	if which == unix.ITIMER_VIRTUAL || which == unix.ITIMER_PROF {
		if _, logged := c.Kernel.Unsupported.LoadOrStore("itimer/"+strconv.Itoa(int(which)), struct{}{}); !logged {
			c.Kernel.Log.Warn("unsupported interval timer (CPU time is not known to the server)", "name", Name(c.Sysno), "which", which)
		}
	}
	return unix.EINVAL
}

// TimerCreate implements timer_create(2).
func TimerCreate(c *kernel.Task) (int64, error) {
	clockID, sevAddr, idAddr := int32(c.Args[0]), c.Args[1], c.Args[2]
	k := c.Kernel
	clk := k.Clocks.ByID(clockID)
	if clk == nil && !kernel.IsCPUClock(clockID) {
		return 0, unix.EINVAL
	}
	notify, signo, tid, value := int32(kernel.SigevSignal), int32(unix.SIGALRM), int32(0), uint64(0)
	haveValue := false
	if sevAddr != 0 {
		b, err := c.Mem.CopyIn(sevAddr, sizeofSigevent)
		if err != nil {
			return 0, err
		}
		value, haveValue = binary.LittleEndian.Uint64(b[0:]), true
		signo = int32(binary.LittleEndian.Uint32(b[8:]))
		notify = int32(binary.LittleEndian.Uint32(b[12:]))
		tid = int32(binary.LittleEndian.Uint32(b[16:]))
		switch notify {
		case kernel.SigevNone:
		case kernel.SigevSignal, kernel.SigevThread, kernel.SigevSignal | kernel.SigevThreadID:
			if signo <= 0 || signo > ksignal.NumSignals {
				return 0, unix.EINVAL
			}
		default:
			return 0, unix.EINVAL
		}
	}
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	if p.Exiting {
		return 0, unix.ESRCH
	}
	if clk == nil && !k.CPUClockExistsLocked(p, clockID) {
		return 0, unix.EINVAL
	}
	if notify&kernel.SigevThreadID != 0 {
		if t := k.Threads[tid]; t == nil || t.Proc != p || t.Killed {
			return 0, unix.EINVAL
		}
	}
	n := len(p.Timers)
	if p.Timers[kernel.ITimerRealID] != nil {
		n--
	}
	if n >= maxTimersPerProcess {
		return 0, unix.EAGAIN
	}
	// Ids count up per process, as Linux hands them out, skipping live
	// ones.
	id := p.NextTimerID
	for p.Timers[id] != nil || id < 0 {
		if id++; id < 0 {
			id = 0
		}
	}
	p.NextTimerID = id + 1
	if p.NextTimerID < 0 {
		p.NextTimerID = 0
	}
	if !haveValue {
		value = uint64(id)
	}
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(id))
	if err := c.Mem.CopyOut(idAddr, b); err != nil {
		return 0, err
	}
	tm := k.NewTimerLocked(p, id, clockID, clk)
	tm.Notify, tm.Signo, tm.TID, tm.Value = notify, signo, tid, value
	return 0, nil
}

// copyInItimerspec copies in and checks the struct itimerspec at addr.
func copyInItimerspec(c *kernel.Task, addr uint64) (interval, value time.Duration, err error) {
	b, err := c.Mem.CopyIn(addr, ktimer.SizeofItimerspec)
	if err != nil {
		return 0, 0, err
	}
	return ktimer.ParseItimerspec(b)
}

// TimerSettime implements timer_settime(2).
func TimerSettime(c *kernel.Task) (int64, error) {
	id, flags, newAddr, oldAddr := int32(c.Args[0]), int32(c.Args[1]), c.Args[2], c.Args[3]
	if newAddr == 0 {
		return 0, unix.EINVAL // Linux checks it first
	}
	interval, value, err := copyInItimerspec(c, newAddr)
	if err != nil {
		return 0, err
	}
	// Linux ignores flags other than TIMER_ABSTIME.
	k := c.Kernel
	k.Mu.Lock()
	tm, err := c.PosixTimerLocked(id)
	if err == nil && tm.Timer == nil {
		err = unix.EINVAL // a CPU-clock timer: the client sets it
	}
	if err != nil {
		k.Mu.Unlock()
		return 0, err
	}
	s := ktimer.SettingOf(tm.Timer.Clock(), interval, value, flags&timerAbstime != 0)
	now, old := tm.Timer.Set(s, nil)
	k.Trk.Changed(tm)
	k.Mu.Unlock()
	if oldAddr != 0 {
		oi, ov := ktimer.SpecOf(now, old)
		return 0, c.Mem.CopyOut(oldAddr, ktimer.ItimerBytes(oi, ov, false))
	}
	return 0, nil
}

// TimerGettime implements timer_gettime(2).
func TimerGettime(c *kernel.Task) (int64, error) {
	id, addr := int32(c.Args[0]), c.Args[1]
	c.Kernel.Mu.Lock()
	tm, err := c.PosixTimerLocked(id)
	var interval, value time.Duration
	if err == nil && tm.Timer == nil {
		err = unix.EINVAL // a CPU-clock timer: the client reads it
	}
	if err == nil {
		interval, value = ktimer.SpecOf(tm.Timer.Get())
	}
	c.Kernel.Mu.Unlock()
	if err != nil {
		return 0, err
	}
	return 0, c.Mem.CopyOut(addr, ktimer.ItimerBytes(interval, value, false))
}

// TimerGetoverrun checks the timer id. The overrun count itself is
// the client's: only it knows which expirations coalesced into a signal
// still pending (the server pushes one signal per firing).
func TimerGetoverrun(c *kernel.Task) (int64, error) {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	_, err := c.PosixTimerLocked(int32(c.Args[0]))
	return 0, err
}

// TimerDelete implements timer_delete(2).
func TimerDelete(c *kernel.Task) (int64, error) {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	tm, err := c.PosixTimerLocked(int32(c.Args[0]))
	if err != nil {
		return 0, err
	}
	k.DeleteTimerLocked(tm)
	return 0, nil
}
