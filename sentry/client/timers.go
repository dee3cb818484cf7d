package client

import (
	"math"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Timers run on the remote sentry, which pushes one signal per firing;
// the client keeps what only it can know: which firings coalesced into a
// timer signal that was still pending (its overrun), and the overrun of
// the last one delivered (timer_getoverrun).

// sampleClocks reads the clocks the server runs the application's timers
// against (Hello.clocks): an absolute timer_settime names a time of the
// client's clock.
func sampleClocks() *pb.ClockSample {
	var cs pb.ClockSample
	if d, ok := clockNow(linux.CLOCK_REALTIME); ok {
		cs.Realtime = int64(d)
	}
	if d, ok := clockNow(linux.CLOCK_MONOTONIC); ok {
		cs.Monotonic = int64(d)
	}
	if d, ok := clockNow(linux.CLOCK_BOOTTIME); ok {
		cs.Boottime = int64(d)
	}
	return &cs
}

// clocksFor returns the clocks a forwarded call carries (Syscall.clocks):
// a sample for the calls that name or read back a time of the
// application's clocks, so that the server's view of them is as close as
// this call's transit however long ago the connection began; nil for
// the others.
func clocksFor(sysno uintptr) *pb.ClockSample {
	switch sysno {
	case unix.SYS_TIMER_SETTIME, unix.SYS_TIMER_GETTIME, unix.SYS_TIMERFD_SETTIME, unix.SYS_TIMERFD_GETTIME,
		unix.SYS_SETITIMER, unix.SYS_GETITIMER, unix.SYS_ALARM:
		return sampleClocks()
	}
	return nil
}

// coalesceTimerSignalLocked folds a POSIX timer's signal into the same
// timer's signal if one is still pending, as Linux queues a timer's signal
// once and counts the firings meanwhile in its overrun. It reports whether
// it did.
//
// Preconditions: t.mu is locked.
func (t *task) coalesceTimerSignalLocked(info *linux.SignalInfo) bool {
	if info.Code != linux.SI_TIMER {
		return false
	}
	for i := range t.pending {
		p := &t.pending[i].info
		if p.Code == linux.SI_TIMER && p.Signo == info.Signo && p.TimerID() == info.TimerID() {
			n := int64(p.Overrun()) + 1 + int64(info.Overrun())
			p.SetOverrun(int32(min(n, math.MaxInt32)))
			return true
		}
	}
	return false
}

// noteDequeued records the overrun of a POSIX timer's signal taken by the
// application (handler or sigtimedwait), for timer_getoverrun.
func (t *task) noteDequeued(info *linux.SignalInfo) {
	if info.Code != linux.SI_TIMER {
		return
	}
	t.proc.mu.Lock()
	if t.proc.timerOverrun == nil {
		t.proc.timerOverrun = make(map[linux.TimerID]int32)
	}
	t.proc.timerOverrun[info.TimerID()] = info.Overrun()
	t.proc.mu.Unlock()
}

// sysTimerGetoverrun asks the server whether the timer exists, then
// answers with the overrun of its last signal delivered.
func sysTimerGetoverrun(t *task, a [6]uint64) (uint64, unix.Errno) {
	if _, errno := t.forward(unix.SYS_TIMER_GETOVERRUN, a); errno != 0 {
		return 0, errno
	}
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	return uint64(t.proc.timerOverrun[linux.TimerID(a[0])]), 0
}

// sysTimerDelete deletes the timer on the server and forgets its overrun.
func sysTimerDelete(t *task, a [6]uint64) (uint64, unix.Errno) {
	ret, errno := t.forward(unix.SYS_TIMER_DELETE, a)
	if errno == 0 {
		t.proc.mu.Lock()
		delete(t.proc.timerOverrun, linux.TimerID(a[0]))
		delete(t.proc.cpuPosixTimers, int32(a[0]))
		if t.proc.updateCPUTimersArmedLocked() {
			go t.proc.cpuTicker()
		}
		t.proc.mu.Unlock()
	}
	return ret, errno
}
