package server

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// sigevent builds a struct sigevent.
func sigevent(notify, signo, tid int32, value uint64) []byte {
	b := make([]byte, 64) // struct sigevent
	binary.LittleEndian.PutUint64(b[0:], value)
	binary.LittleEndian.PutUint32(b[8:], uint32(signo))
	binary.LittleEndian.PutUint32(b[12:], uint32(notify))
	binary.LittleEndian.PutUint32(b[16:], uint32(tid))
	return b
}

// timerSpec builds a struct itimerspec (usec: itimerval).
func timerSpec(interval, value time.Duration, usec bool) []byte {
	b := make([]byte, 32)
	put := func(off int, d time.Duration) {
		binary.LittleEndian.PutUint64(b[off:], uint64(d/time.Second))
		frac := uint64(d % time.Second)
		if usec {
			frac /= 1000
		}
		binary.LittleEndian.PutUint64(b[off+8:], frac)
	}
	put(0, interval)
	put(16, value)
	return b
}

// signalPushes waits for pushes of sig and returns their siginfos.
func signalInfo(p *sentrypb.Push) (signo, code, timerID, overrun int32, value uint64) {
	s := p.GetSignal()
	b := s.Siginfo
	return s.Signo, int32(binary.LittleEndian.Uint32(b[8:])), int32(binary.LittleEndian.Uint32(b[16:])),
		int32(binary.LittleEndian.Uint32(b[20:])), binary.LittleEndian.Uint64(b[24:])
}

func isSignal(sig int32) func(*sentrypb.Push) bool {
	return func(p *sentrypb.Push) bool { return p.GetSignal() != nil && p.GetSignal().Signo == sig }
}

// catch installs a handler for sig in process 1 (PID 1 ignores signals it
// has no handler for).
func catch(t *testing.T, sys func(int32, uintptr, ...uint64) int64, m *appMem, sig int) {
	t.Helper()
	sys(1, unix.SYS_RT_SIGACTION, uint64(sig), m.alloc(ksignal.Action{Handler: 0x1000, Flags: ksignal.SASiginfo}.Bytes()), 0, 8)
}

func TestTimerSyscalls(t *testing.T) {
	e := started(t)
	m := e.mem
	catch(t, e.ok, m, int(unix.SIGALRM))
	catch(t, e.ok, m, int(unix.SIGUSR1))

	// alarm: SIGALRM from the kernel; the previous alarm's seconds left.
	if left := e.ok(1, unix.SYS_ALARM, 10); left != 0 {
		t.Errorf("first alarm returned %d", left)
	}
	if left := e.ok(1, unix.SYS_ALARM, 1); left != 10 {
		t.Errorf("second alarm returned %d, want 10", left)
	}
	p := e.waitPush(isSignal(int32(unix.SIGALRM)))
	if _, code, _, _, _ := signalInfo(p); code != ksignal.SIKernel {
		t.Errorf("alarm's si_code %d, want SI_KERNEL", code)
	}
	cur := m.zeros(32)
	e.ok(1, unix.SYS_GETITIMER, unix.ITIMER_REAL, cur)
	if got := m.bytes(cur, 32); string(got) != string(make([]byte, 32)) {
		t.Errorf("getitimer after the alarm fired: %x", got)
	}

	// setitimer with an interval fires repeatedly and reports the old
	// setting when stopped.
	e.ok(1, unix.SYS_SETITIMER, unix.ITIMER_REAL, m.alloc(timerSpec(20*time.Millisecond, 20*time.Millisecond, true)), 0)
	for i := 0; i < 3; i++ {
		e.waitPush(isSignal(int32(unix.SIGALRM)))
	}
	old := m.zeros(32)
	e.ok(1, unix.SYS_SETITIMER, unix.ITIMER_REAL, m.alloc(timerSpec(0, 0, true)), old)
	if iv := binary.LittleEndian.Uint64(m.bytes(old+8, 8)); iv != 20000 {
		t.Errorf("old interval %d usec, want 20000", iv)
	}

	// timer_create: SIGEV_SIGNAL with a value, SI_TIMER, the timer id.
	id := m.zeros(4)
	e.ok(1, unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, m.alloc(sigevent(kernel.SigevSignal, int32(unix.SIGUSR1), 0, 77)), id)
	tid := uint64(m.u32(id))
	e.ok(1, unix.SYS_TIMER_SETTIME, tid, 0, m.alloc(timerSpec(0, 10*time.Millisecond, false)), 0)
	p = e.waitPush(isSignal(int32(unix.SIGUSR1)))
	if _, code, timerID, overrun, value := signalInfo(p); code != kernel.SITimer || timerID != int32(tid) || overrun != 0 || value != 77 {
		t.Errorf("timer signal: code %d id %d overrun %d value %d", code, timerID, overrun, value)
	}
	// An absolute expiration in the past fires at once.
	e.ok(1, unix.SYS_TIMER_SETTIME, tid, linux.TIMER_ABSTIME, m.alloc(timerSpec(0, time.Nanosecond, false)), 0)
	e.waitPush(isSignal(int32(unix.SIGUSR1)))
	// timer_gettime counts down.
	e.ok(1, unix.SYS_TIMER_SETTIME, tid, 0, m.alloc(timerSpec(time.Second, time.Hour, false)), 0)
	e.ok(1, unix.SYS_TIMER_GETTIME, tid, cur)
	if iv, left := binary.LittleEndian.Uint64(m.bytes(cur, 8)), binary.LittleEndian.Uint64(m.bytes(cur+16, 8)); iv != 1 || left < 3590 || left >= 3600 {
		t.Errorf("timer_gettime: interval %d s, %d s left", iv, left)
	}
	e.ok(1, unix.SYS_TIMER_GETOVERRUN, tid)
	e.ok(1, unix.SYS_TIMER_DELETE, tid)

	// A signal without a handler goes to the client too (it may be
	// blocked there, waited for by sigwaitinfo): the process lives on.
	e.ok(1, unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, m.alloc(sigevent(kernel.SigevSignal, int32(unix.SIGUSR2), 0, 3)), id)
	e.ok(1, unix.SYS_TIMER_SETTIME, uint64(m.u32(id)), 0, m.alloc(timerSpec(0, time.Millisecond, false)), 0)
	p = e.waitPush(isSignal(int32(unix.SIGUSR2)))
	if act := ksignal.ParseAction(p.GetSignal().Sigaction); act.Handler != ksignal.SigDfl {
		t.Errorf("pushed with handler %#x, want SIG_DFL", act.Handler)
	}
	if pid := e.ok(1, unix.SYS_GETPID); pid != 1 {
		t.Errorf("getpid after the timer's SIGUSR2: %d", pid)
	}
	e.ok(1, unix.SYS_TIMER_DELETE, uint64(m.u32(id)))

	// SIGEV_THREAD_ID must name a thread of the process.
	e.fails(unix.EINVAL, 1, unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, m.alloc(sigevent(kernel.SigevSignal|kernel.SigevThreadID, int32(unix.SIGUSR1), 4242, 0)), id)
	e.ok(1, unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, m.alloc(sigevent(kernel.SigevSignal|kernel.SigevThreadID, int32(unix.SIGUSR1), 1, 0)), id)
	if next := m.u32(id); uint64(next) <= tid {
		t.Errorf("timer ids: %d after %d", next, tid)
	}

	// A timer on a CPU-time clock gets its id here, but the client sets
	// and reads it: the server only holds the id (and deletes it).
	for _, clk := range []uint64{unix.CLOCK_PROCESS_CPUTIME_ID, unix.CLOCK_THREAD_CPUTIME_ID, cpuClockID(1, 2), cpuClockID(1, 6)} {
		e.ok(1, unix.SYS_TIMER_CREATE, clk, 0, id)
		cpu := uint64(m.u32(id))
		e.fails(unix.EINVAL, 1, unix.SYS_TIMER_SETTIME, cpu, 0, m.alloc(timerSpec(0, time.Second, false)), 0)
		e.fails(unix.EINVAL, 1, unix.SYS_TIMER_GETTIME, cpu, cur)
		e.ok(1, unix.SYS_TIMER_GETOVERRUN, cpu)
		e.ok(1, unix.SYS_TIMER_DELETE, cpu)
		e.fails(unix.EINVAL, 1, unix.SYS_TIMER_DELETE, cpu)
	}

	cases := []struct {
		name  string
		sysno uintptr
		args  []uint64
		want  unix.Errno
	}{
		{"setitimer ITIMER_VIRTUAL", unix.SYS_SETITIMER, []uint64{unix.ITIMER_VIRTUAL, m.alloc(timerSpec(0, time.Second, true)), 0}, unix.EINVAL},
		{"getitimer bad which", unix.SYS_GETITIMER, []uint64{9, cur}, unix.EINVAL},
		{"setitimer bad usec", unix.SYS_SETITIMER, []uint64{unix.ITIMER_REAL, m.alloc(timerSpec(0, 500*time.Millisecond, false)), 0}, unix.EINVAL},
		{"setitimer bad address", unix.SYS_SETITIMER, []uint64{unix.ITIMER_REAL, 0x5000, 0}, unix.EFAULT},
		{"timer_create bad clock", unix.SYS_TIMER_CREATE, []uint64{100, 0, id}, unix.EINVAL},
		{"timer_create CPU clock of no process", unix.SYS_TIMER_CREATE, []uint64{cpuClockID(4242, 2), 0, id}, unix.EINVAL},
		{"timer_create CPU clock of no thread", unix.SYS_TIMER_CREATE, []uint64{cpuClockID(4242, 6), 0, id}, unix.EINVAL},
		{"timer_create CPU clock which 3", unix.SYS_TIMER_CREATE, []uint64{cpuClockID(1, 3), 0, id}, unix.EINVAL},
		{"timer_create bad signal", unix.SYS_TIMER_CREATE, []uint64{unix.CLOCK_REALTIME, m.alloc(sigevent(kernel.SigevSignal, 65, 0, 0)), id}, unix.EINVAL},
		{"timer_create bad notify", unix.SYS_TIMER_CREATE, []uint64{unix.CLOCK_REALTIME, m.alloc(sigevent(8, 10, 0, 0)), id}, unix.EINVAL},
		{"timer_settime no new setting", unix.SYS_TIMER_SETTIME, []uint64{uint64(m.u32(id)), 0, 0, 0}, unix.EINVAL},
		{"timer_settime unknown id", unix.SYS_TIMER_SETTIME, []uint64{999, 0, m.alloc(timerSpec(0, time.Second, false)), 0}, unix.EINVAL},
		{"timer_settime bad nsec", unix.SYS_TIMER_SETTIME, []uint64{uint64(m.u32(id)), 0, m.alloc(timerSpec(0, -time.Second, false)), 0}, unix.EINVAL},
		{"timer_gettime negative id", unix.SYS_TIMER_GETTIME, []uint64{^uint64(0), cur}, unix.EINVAL},
		{"timer_delete unknown id", unix.SYS_TIMER_DELETE, []uint64{999}, unix.EINVAL},
		{"timer_getoverrun unknown id", unix.SYS_TIMER_GETOVERRUN, []uint64{999}, unix.EINVAL},
	}
	for _, c := range cases {
		if r := e.sys(1, c.sysno, c.args...); unix.Errno(r.Errno) != c.want {
			t.Errorf("%s: ret %d errno %v, want %v", c.name, r.Ret, unix.Errno(r.Errno), c.want)
		}
	}
}

// TestTimerRecovery: an interval timer keeps firing across a server
// crash; the firings missed during the outage arrive as one signal with
// an overrun; a one-shot timer that already fired is not fired again.
func TestTimerRecovery(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	catch(t, r.ok, m, int(unix.SIGUSR1))
	catch(t, r.ok, m, int(unix.SIGALRM))
	id := m.zeros(4)
	r.ok(1, unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, m.alloc(sigevent(kernel.SigevSignal, int32(unix.SIGUSR1), 0, 5)), id)
	r.ok(1, unix.SYS_TIMER_SETTIME, uint64(m.u32(id)), 0, m.alloc(timerSpec(10*time.Millisecond, 10*time.Millisecond, false)), 0)
	r.ok(1, unix.SYS_ALARM, 0) // makes the ITIMER_REAL, disarmed
	r.ok(1, unix.SYS_SETITIMER, unix.ITIMER_REAL, m.alloc(timerSpec(0, time.Millisecond, true)), 0)
	waitSig := func(sig int32) *sentrypb.Push {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case p := <-r.pushCh:
				if isSignal(sig)(p) {
					return p
				}
			case <-deadline:
				t.Fatalf("no signal %d", sig)
				return nil
			}
		}
	}
	waitSig(int32(unix.SIGALRM))
	for i := 0; i < 3; i++ {
		waitSig(int32(unix.SIGUSR1))
	}
	// The one-shot ITIMER_REAL is disarmed in the log once it fired; the
	// POSIX timer is armed.
	var real, posix *sentrypb.TimerState
	for _, rec := range r.records() {
		switch rec.Key {
		case statekey.Timer(1, kernel.ITimerRealID).String():
			real = rec.GetTimer()
		case statekey.Timer(1, int32(m.u32(id))).String():
			posix = rec.GetTimer()
		}
	}
	if real == nil || real.Next != 0 || posix == nil || posix.Next == 0 || posix.Interval != int64(10*time.Millisecond) || posix.Value != 5 {
		t.Fatalf("timer records: real %v, posix %v", real, posix)
	}

	r.crash()
	time.Sleep(100 * time.Millisecond)
	// Drain what the dead server pushed.
	for len(r.pushCh) > 0 {
		<-r.pushCh
	}
	r.recover(nil)
	p := waitSig(int32(unix.SIGUSR1))
	if _, code, timerID, overrun, value := signalInfo(p); code != kernel.SITimer || timerID != int32(m.u32(id)) || value != 5 || overrun < 3 {
		t.Errorf("first signal after the restore: code %d id %d value %d overrun %d (want the outage's firings counted)", code, timerID, value, overrun)
	}
	for i := 0; i < 3; i++ {
		waitSig(int32(unix.SIGUSR1))
	}
	// The restored timer is the same timer: it can be read and deleted.
	cur := m.zeros(32)
	r.ok(1, unix.SYS_TIMER_GETTIME, uint64(m.u32(id)), cur)
	r.ok(1, unix.SYS_TIMER_DELETE, uint64(m.u32(id)))
	// New ids do not reuse the restored one.
	r.ok(1, unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, 0, cur)
	if got := m.u32(cur); got <= m.u32(id) {
		t.Errorf("timer id %d after restore reuses %d", got, m.u32(id))
	}
	// No SIGALRM: the one-shot timer already fired before the crash.
	time.Sleep(50 * time.Millisecond)
	for len(r.pushCh) > 0 {
		if p := <-r.pushCh; isSignal(int32(unix.SIGALRM))(p) {
			t.Errorf("the fired one-shot ITIMER_REAL fired again after the restore")
		}
	}
	for _, rec := range r.records() {
		if rec.Key == statekey.Timer(1, int32(m.u32(id))).String() {
			t.Errorf("deleted timer still in the log: %v", rec)
		}
	}
}

// cpuClockID is Linux's clock id for the CPU clock of process or thread
// id (0: the caller), kind which|4 for a thread's.
func cpuClockID(id, which int32) uint64 {
	return uint64(uint32(^id<<3 | which))
}
