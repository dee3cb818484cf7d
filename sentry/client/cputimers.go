package client

import (
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/limits"
)

// ITIMER_VIRTUAL and ITIMER_PROF count the process's CPU time, which only
// the client measures (cputime.go), so the client keeps them: a thread
// checks them whenever it leaves the application or finishes a call, a
// ticker interrupts threads that stay in the application, and an
// expiration asks the server to route the signal (rt_sigqueueinfo to the
// process itself, with si_code SI_KERNEL, as Linux sends it). ITIMER_REAL
// is the server's (forwarded). RLIMIT_CPU is checked the same way
// (checkCPULimit), as are POSIX timers on CPU clocks (cpuposixtimers.go).

// cpuTickInterval is how often a process with an armed CPU timer has its
// running threads interrupted so that the timer is checked.
const cpuTickInterval = 5 * time.Millisecond

// cpuTimer is an ITIMER_VIRTUAL or ITIMER_PROF setting: next is the
// process CPU time (user, or user+system) of the next expiration, 0 when
// disarmed.
type cpuTimer struct {
	next, interval time.Duration
}

// cpuTimerSignals are the signals of ITIMER_VIRTUAL and ITIMER_PROF.
var cpuTimerSignals = [2]linux.Signal{linux.SIGVTALRM, linux.SIGPROF}

// cpuClockOf is the clock ITIMER_VIRTUAL (1) or ITIMER_PROF (2) counts.
func cpuClockOf(which int, user, sys time.Duration) time.Duration {
	if which == linux.ITIMER_VIRTUAL {
		return user
	}
	return user + sys
}

func sysSetitimer(t *task, a [6]uint64) (uint64, unix.Errno) {
	which := int(int32(a[0]))
	if which != linux.ITIMER_VIRTUAL && which != linux.ITIMER_PROF {
		return t.forward(unix.SYS_SETITIMER, a)
	}
	var interval, value time.Duration
	if a[1] != 0 {
		var b [32]byte
		if err := t.copyIn(a[1], b[:]); err != 0 {
			return 0, err
		}
		var ok bool
		if interval, ok = timevalDuration(b[0:]); !ok {
			return 0, unix.EINVAL
		}
		if value, ok = timevalDuration(b[16:]); !ok {
			return 0, unix.EINVAL
		}
	}
	u, s := t.proc.cpuTimes()
	now := cpuClockOf(which, u, s)
	p := t.proc
	p.mu.Lock()
	old := p.cpuTimers[which-1]
	nt := cpuTimer{interval: interval}
	if value > 0 {
		nt.next = now + value
	}
	p.cpuTimers[which-1] = nt
	p.rearmCPUTimersAndUnlock()
	if a[2] != 0 {
		return 0, t.copyOut(a[2], itimervalBytes(old, now))
	}
	return 0, 0
}

func sysGetitimer(t *task, a [6]uint64) (uint64, unix.Errno) {
	which := int(int32(a[0]))
	if which != linux.ITIMER_VIRTUAL && which != linux.ITIMER_PROF {
		return t.forward(unix.SYS_GETITIMER, a)
	}
	u, s := t.proc.cpuTimes()
	t.proc.mu.Lock()
	cur := t.proc.cpuTimers[which-1]
	t.proc.mu.Unlock()
	return 0, t.copyOut(a[1], itimervalBytes(cur, cpuClockOf(which, u, s)))
}

// timevalDuration parses a struct timeval (EINVAL cases: ok false).
func timevalDuration(b []byte) (time.Duration, bool) {
	sec, usec := int64(le64(b)), int64(le64(b[8:]))
	if sec < 0 || usec < 0 || usec >= 1e6 {
		return 0, false
	}
	if sec > (1<<62)/int64(time.Second) {
		sec = (1 << 62) / int64(time.Second)
	}
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, true
}

// itimervalBytes encodes a CPU timer's setting at CPU time now.
func itimervalBytes(ct cpuTimer, now time.Duration) []byte {
	b := make([]byte, 32)
	put := func(off int, d time.Duration) {
		us := (d + time.Microsecond - 1) / time.Microsecond // never 0 while armed
		hostarch.ByteOrder.PutUint64(b[off:], uint64(us/1e6))
		hostarch.ByteOrder.PutUint64(b[off+8:], uint64(us%1e6))
	}
	put(0, ct.interval)
	if ct.next != 0 {
		put(16, max(ct.next-now, time.Nanosecond))
	}
	return b
}

// checkCPUTimers fires the process's CPU timers that expired. It runs on
// the task goroutine (it makes a forwarded call).
func (t *task) checkCPUTimers() {
	p := t.proc
	if !p.cpuTimersArmed.Load() || t.isKilled() {
		return
	}
	u, s := p.cpuTimes()
	if t.checkCPULimit(u + s) {
		return
	}
	nows := p.cpuPosixClocks()
	var fire []linux.Signal
	p.mu.Lock()
	for i := range p.cpuTimers {
		ct := &p.cpuTimers[i]
		now := cpuClockOf(i+1, u, s)
		if ct.next == 0 || now < ct.next {
			continue
		}
		fire = append(fire, cpuTimerSignals[i])
		if ct.interval > 0 {
			// One signal however far behind (itimers count no overruns).
			for ct.next <= now {
				ct.next += ct.interval
			}
		} else {
			ct.next = 0
		}
	}
	posixFire := p.expiredCPUPosixTimersLocked(nows)
	if p.updateCPUTimersArmedLocked() {
		go p.cpuTicker()
	}
	p.mu.Unlock()
	for _, f := range posixFire {
		t.routeCPUPosixSignal(f)
	}
	for _, sig := range fire {
		t.kernelSignalSelf(sig)
	}
}

// kernelSignalSelf sends sig (SI_KERNEL) to t's process, as a CPU-time
// limit or timer does: queued here if the process catches it
// (ownsignal.go), else through the server.
func (t *task) kernelSignalSelf(sig linux.Signal) {
	var info linux.SignalInfo
	info.Signo = int32(sig)
	info.Code = linux.SI_KERNEL
	t.sendOwnSignal(0, info)
}

// cpuLimitChanged arms the CPU checks for a finite RLIMIT_CPU (or
// disarms them).
func (p *process) cpuLimitChanged() {
	p.mu.Lock()
	p.rearmCPUTimersAndUnlock()
}

// checkCPULimit enforces RLIMIT_CPU as Linux's check_process_timers: at
// the hard limit the process is killed (SIGKILL); at the soft limit it
// gets SIGXCPU (SI_KERNEL) and the soft limit goes up by a second, so
// SIGXCPU comes every second of CPU time until the hard limit. prof is
// the process's user and system time. It reports whether the process
// was killed.
func (t *task) checkCPULimit(prof time.Duration) bool {
	p := t.proc
	l := p.limits.Get(limits.CPU)
	if l.Cur == limits.Infinity {
		return false
	}
	secs := uint64(prof / time.Second)
	if l.Max != limits.Infinity && secs >= l.Max {
		t.forwardKillSelf(linux.SIGKILL)
		return true
	}
	if secs < l.Cur {
		return false
	}
	if l.Cur < l.Max {
		l.Cur++
		p.limits.Set(limits.CPU, l, true)
	}
	t.kernelSignalSelf(linux.SIGXCPU)
	return false
}

// cpuTicker interrupts the process's threads that are in the application
// while a CPU timer is armed, so that they check it.
func (p *process) cpuTicker() {
	tick := time.NewTicker(cpuTickInterval)
	defer tick.Stop()
	for range tick.C {
		p.mu.Lock()
		if !p.cpuTimersArmed.Load() || len(p.threads) == 0 {
			p.cpuTicking = false
			p.mu.Unlock()
			return
		}
		threads := make([]*task, 0, len(p.threads))
		for _, t := range p.threads {
			threads = append(threads, t)
		}
		p.mu.Unlock()
		for _, t := range threads {
			t.mu.Lock()
			if t.state == stateApp {
				t.pctx.Interrupt()
			}
			t.mu.Unlock()
		}
	}
}
