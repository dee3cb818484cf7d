package server

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/sentry/ktime"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// This file holds the timers that raise signals: a process's ITIMER_REAL
// (alarm, setitimer) and its POSIX timers (timer_create). Each is an
// appTimer over a ktimer.Timer on the application's clock; an expiration
// routes its signal as kill does (signalFromAppLocked). Timers are replay
// state ("timer/<pid>/<id>", TimerState): their setting is reported when
// it changes and after each expiration, and a restored server re-arms
// them (restoreTimersLocked), firing at once those due during the outage.

const (
	// itimerRealID is the TimerState id of a process's ITIMER_REAL.
	itimerRealID = -1
	// maxTimersPerProcess bounds timer_create (EAGAIN beyond).
	maxTimersPerProcess = 1024

	siTimer = -2

	sigevSignal   = 0
	sigevNone     = 1
	sigevThread   = 2
	sigevThreadID = 4

	timerAbstime = 1

	sizeofItimerval  = 32
	sizeofItimerspec = 32
	sizeofSigevent   = 64
)

// appTimer is one signal-raising timer of a process (package kernel's
// AppTimer). Its fields are protected by clientState.Mu; its ktimer.Timer
// has its own lock (a leaf below clientState.Mu), and its listener is
// timerExpired.
type appTimer = kernel.AppTimer

// newTimerLocked makes (not arms) timer id of p. Precondition: k.Mu held.
func newTimerLocked(k *clientState, p *process, id, clockID int32, clk *ktimer.Clock) *appTimer {
	tm := &appTimer{Proc: p, ID: id, ClockID: clockID, Notify: sigevSignal, Signo: int32(unix.SIGALRM)}
	if clk != nil {
		tm.Timer = ktimer.NewTimer(clk, ktimer.ListenerFunc(func(exp uint64) { timerExpired(k, tm, exp) }))
	}
	if p.Timers == nil {
		p.Timers = make(map[int32]*appTimer)
	}
	p.Timers[id] = tm
	k.Trk.Changed(tm)
	return tm
}

// deleteTimerLocked stops and forgets tm. Precondition: k.Mu held.
func deleteTimerLocked(k *clientState, tm *appTimer) {
	tm.Deleted = true
	if tm.Timer != nil {
		tm.Timer.Destroy()
	}
	delete(tm.Proc.Timers, tm.ID)
	k.Trk.Changed(tm)
}

// deleteTimersLocked deletes p's POSIX timers, and its ITIMER_REAL too
// when all is set (exit; exec keeps it, as Linux does).
func deleteTimersLocked(k *clientState, p *process, all bool) {
	for id, tm := range p.Timers {
		if all || id != itimerRealID {
			deleteTimerLocked(k, tm)
		}
	}
}

// timerExpired routes the signal of exp expirations of tm (its ktimer
// listener: called with no lock held).
func timerExpired(k *clientState, tm *appTimer, exp uint64) {
	var d deferred
	k.Mu.Lock()
	if !tm.Deleted && !tm.Proc.Exiting {
		// The setting moved on (or a one-shot timer disarmed): report it.
		k.Trk.Changed(tm)
		timerFiredLocked(k, tm, exp, &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
}

// timerFiredLocked sends tm's signal for exp expirations; the ones after
// the first are its overrun. Precondition: k.Mu held.
func timerFiredLocked(k *clientState, tm *appTimer, exp uint64, d *deferred) {
	if tm.Notify == sigevNone {
		return
	}
	sig := int(tm.Signo)
	var info []byte
	if tm.ID == itimerRealID {
		// Linux sends SIGALRM of an ITIMER_REAL as the kernel.
		info = ksignal.SiginfoKill(sig, ksignal.SIKernel, 0, 0)
	} else {
		info = make([]byte, ksignal.SizeofSiginfo)
		binary.LittleEndian.PutUint32(info[0:], uint32(sig))
		code := int32(siTimer)
		binary.LittleEndian.PutUint32(info[8:], uint32(code))
		binary.LittleEndian.PutUint32(info[16:], uint32(tm.ID))
		binary.LittleEndian.PutUint32(info[20:], uint32(min(exp-1, math.MaxInt32)))
		binary.LittleEndian.PutUint64(info[24:], tm.Value)
	}
	p := tm.Proc
	var target *thread
	if tm.Notify&sigevThreadID != 0 {
		if t := k.Threads[tm.TID]; t != nil && t.Proc == p && !t.Killed {
			target = t
		}
	}
	timerSignalLocked(k, p, target, sig, info, d)
}

// timerSignalLocked sends a timer's signal to p (to target if not nil):
// the server's timers' and, through rt_sigqueueinfo and
// rt_tgsigqueueinfo with SI_TIMER, the client's CPU-clock timers'.
// Precondition: k.Mu held.
func timerSignalLocked(k *clientState, p *process, target *thread, sig int, info []byte, d *deferred) {
	if act := p.Sig.Act[sig]; act.Handler == ksignal.SigDfl || act.Handler == ksignal.SigIgn {
		// Without a handler the signal still goes to the client, which
		// holds the mask: blocked, it waits there for sigwaitinfo (glibc's
		// SIGEV_THREAD helper thread waits so for its timers' signal);
		// unblocked, the client drops an ignored one and sends one with a
		// fatal default action back (tgkill), which kills the process as
		// kill does. Linux queues a blocked signal whatever its
		// disposition.
		if target == nil {
			target = p.AnyLiveThread()
		}
		if target != nil {
			d.Push(&sentrypb.Push{Msg: &sentrypb.Push_Signal{Signal: &sentrypb.SignalPush{
				Tid: target.TID, Signo: int32(sig), Siginfo: info, Sigaction: act.Bytes()}}})
		}
		return
	}
	signalFromAppLocked(k, p, target, sig, info, d)
}

// timerRecord is tm's TimerState. Precondition: k.Mu held.
func timerRecord(tm *appTimer) *sentrypb.StateRecord {
	var s ktime.Setting
	if tm.Timer != nil {
		s = tm.Timer.Setting()
	}
	st := &sentrypb.TimerState{Pid: tm.Proc.PID, Id: tm.ID, Clock: tm.ClockID, Notify: tm.Notify,
		Signo: tm.Signo, Tid: tm.TID, Value: tm.Value, Interval: int64(s.Period)}
	if s.Enabled {
		st.Next = max(s.Next.Nanoseconds(), 1)
	}
	return &sentrypb.StateRecord{Key: statekey.Timer(tm.Proc.PID, tm.ID).String(), Value: &sentrypb.StateRecord_Timer{Timer: st}}
}

// timerRecordLocked reports tm (deleted once gone). Precondition: k.Mu
// held.
func timerRecordLocked(k *clientState, tm *appTimer) *sentrypb.StateRecord {
	if tm.Deleted || tm.Proc.Exiting || k.Procs[tm.Proc.PID] != tm.Proc {
		return deletedRec(statekey.Timer(tm.Proc.PID, tm.ID))
	}
	return timerRecord(tm)
}

// itimerRealLocked returns p's ITIMER_REAL, made on first use.
// Precondition: k.Mu held.
func itimerRealLocked(k *clientState, p *process) *appTimer {
	if tm := p.Timers[itimerRealID]; tm != nil {
		return tm
	}
	return newTimerLocked(k, p, itimerRealID, unix.CLOCK_REALTIME, k.Clocks.Realtime)
}

// setItimerReal arms p's ITIMER_REAL and returns its old (interval,
// value).
func setItimerReal(c *syscallCtx, interval, value time.Duration) (time.Duration, time.Duration, error) {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	if p.Exiting {
		return 0, 0, unix.ESRCH
	}
	tm := itimerRealLocked(k, p)
	var s ktime.Setting
	if value > 0 {
		s = ktime.Setting{Enabled: true, Next: tm.Timer.Clock().Now().Add(value), Period: interval}
	}
	now, old := tm.Timer.Set(s, nil)
	k.Trk.Changed(tm)
	oi, ov := ktimer.SpecOf(now, old)
	return oi, ov, nil
}

func sysAlarm(c *syscallCtx) (int64, error) {
	secs := time.Duration(uint32(c.Args[0])) * time.Second
	_, old, err := setItimerReal(c, 0, secs)
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

func sysSetitimer(c *syscallCtx) (int64, error) {
	which, newAddr, oldAddr := int32(c.Args[0]), c.Args[1], c.Args[2]
	if which != unix.ITIMER_REAL {
		return 0, unsupportedItimer(c, which)
	}
	var interval, value time.Duration
	if newAddr != 0 {
		b, err := c.Mem.CopyIn(newAddr, sizeofItimerval)
		if err != nil {
			return 0, err
		}
		if interval, value, err = ktimer.ParseItimerval(b); err != nil {
			return 0, err
		}
	}
	oi, ov, err := setItimerReal(c, interval, value)
	if err != nil {
		return 0, err
	}
	if oldAddr != 0 {
		return 0, c.Mem.CopyOut(oldAddr, ktimer.ItimerBytes(oi, ov, true))
	}
	return 0, nil
}

func sysGetitimer(c *syscallCtx) (int64, error) {
	which, addr := int32(c.Args[0]), c.Args[1]
	if which != unix.ITIMER_REAL {
		return 0, unsupportedItimer(c, which)
	}
	k := c.Kernel
	k.Mu.Lock()
	var interval, value time.Duration
	if tm := c.Thread.Proc.Timers[itimerRealID]; tm != nil {
		interval, value = ktimer.SpecOf(tm.Timer.Get())
	}
	k.Mu.Unlock()
	return 0, c.Mem.CopyOut(addr, ktimer.ItimerBytes(interval, value, true))
}

// unsupportedItimer is the error for ITIMER_VIRTUAL and ITIMER_PROF
// (logged once): they count the application's CPU time, which the client
// measures, and the client keeps them; one never forwards them.
func unsupportedItimer(c *syscallCtx, which int32) error {
	if which == unix.ITIMER_VIRTUAL || which == unix.ITIMER_PROF {
		if _, logged := c.Kernel.Unsupported.LoadOrStore("itimer/"+strconv.Itoa(int(which)), struct{}{}); !logged {
			c.Kernel.Log.Warn("unsupported interval timer (CPU time is not known to the server)", "name", sysName(c.Sysno), "which", which)
		}
	}
	return unix.EINVAL
}

func sysTimerCreate(c *syscallCtx) (int64, error) {
	clockID, sevAddr, idAddr := int32(c.Args[0]), c.Args[1], c.Args[2]
	k := c.Kernel
	clk := k.Clocks.ByID(clockID)
	if clk == nil && !isCPUClock(clockID) {
		return 0, unix.EINVAL
	}
	notify, signo, tid, value := int32(sigevSignal), int32(unix.SIGALRM), int32(0), uint64(0)
	haveValue := false
	if sevAddr != 0 {
		b, err := c.Mem.CopyIn(sevAddr, sizeofSigevent)
		if err != nil {
			return 0, err
		}
		value, haveValue = le64(b[0:]), true
		signo = int32(binary.LittleEndian.Uint32(b[8:]))
		notify = int32(binary.LittleEndian.Uint32(b[12:]))
		tid = int32(binary.LittleEndian.Uint32(b[16:]))
		switch notify {
		case sigevNone:
		case sigevSignal, sigevThread, sigevSignal | sigevThreadID:
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
	if clk == nil && !cpuClockExistsLocked(k, p, clockID) {
		return 0, unix.EINVAL
	}
	if notify&sigevThreadID != 0 {
		if t := k.Threads[tid]; t == nil || t.Proc != p || t.Killed {
			return 0, unix.EINVAL
		}
	}
	n := len(p.Timers)
	if p.Timers[itimerRealID] != nil {
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
	tm := newTimerLocked(k, p, id, clockID, clk)
	tm.Notify, tm.Signo, tm.TID, tm.Value = notify, signo, tid, value
	return 0, nil
}

// posixTimerLocked returns the caller's timer id. Precondition: k.Mu held.
func posixTimerLocked(c *syscallCtx, id int32) (*appTimer, error) {
	tm := c.Thread.Proc.Timers[id]
	if id < 0 || tm == nil {
		return nil, unix.EINVAL
	}
	return tm, nil
}

func sysTimerSettime(c *syscallCtx) (int64, error) {
	id, flags, newAddr, oldAddr := int32(c.Args[0]), int32(c.Args[1]), c.Args[2], c.Args[3]
	if newAddr == 0 {
		return 0, unix.EINVAL // Linux checks it first
	}
	b, err := c.Mem.CopyIn(newAddr, sizeofItimerspec)
	if err != nil {
		return 0, err
	}
	interval, value, err := ktimer.ParseItimerspec(b)
	if err != nil {
		return 0, err
	}
	// Linux ignores flags other than TIMER_ABSTIME.
	k := c.Kernel
	k.Mu.Lock()
	tm, err := posixTimerLocked(c, id)
	if err == nil && tm.Timer == nil {
		err = unix.EINVAL // a CPU-clock timer: the client sets it
	}
	if err != nil {
		k.Mu.Unlock()
		return 0, err
	}
	var s ktime.Setting
	switch {
	case value == 0:
		s = ktime.Setting{Period: interval}
	case flags&timerAbstime != 0:
		s = ktime.Setting{Enabled: true, Next: ktime.FromNanoseconds(int64(value)), Period: interval}
	default:
		s = ktime.Setting{Enabled: true, Next: tm.Timer.Clock().Now().Add(value), Period: interval}
	}
	now, old := tm.Timer.Set(s, nil)
	k.Trk.Changed(tm)
	k.Mu.Unlock()
	if oldAddr != 0 {
		oi, ov := ktimer.SpecOf(now, old)
		return 0, c.Mem.CopyOut(oldAddr, ktimer.ItimerBytes(oi, ov, false))
	}
	return 0, nil
}

func sysTimerGettime(c *syscallCtx) (int64, error) {
	id, addr := int32(c.Args[0]), c.Args[1]
	c.Kernel.Mu.Lock()
	tm, err := posixTimerLocked(c, id)
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

// sysTimerGetoverrun checks the timer id. The overrun count itself is
// the client's: only it knows which expirations coalesced into a signal
// still pending (the server pushes one signal per firing).
func sysTimerGetoverrun(c *syscallCtx) (int64, error) {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	_, err := posixTimerLocked(c, int32(c.Args[0]))
	return 0, err
}

func sysTimerDelete(c *syscallCtx) (int64, error) {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	tm, err := posixTimerLocked(c, int32(c.Args[0]))
	if err != nil {
		return 0, err
	}
	deleteTimerLocked(k, tm)
	return 0, nil
}

// restoredTimer is a restored timer and the setting to arm it with.
type restoredTimer struct {
	tm *appTimer
	s  ktime.Setting
}

// restoreTimersLocked rebuilds the timers of restored processes, not yet
// armed: armRestoredTimers arms them once the restore is complete.
// Precondition: k.Mu held.
func restoreTimersLocked(k *clientState, states []*sentrypb.TimerState) []restoredTimer {
	var out []restoredTimer
	for _, st := range states {
		p := k.Procs[st.Pid]
		clk := k.Clocks.ByID(st.Clock)
		if p == nil || p.Exiting || (clk == nil && !isCPUClock(st.Clock)) || p.Timers[st.Id] != nil {
			k.Log.Warn("restore: timer dropped", "pid", st.Pid, "id", st.Id, "clock", st.Clock)
			continue
		}
		tm := newTimerLocked(k, p, st.Id, st.Clock, clk)
		tm.Notify, tm.Signo, tm.TID, tm.Value = st.Notify, st.Signo, st.Tid, st.Value
		if st.Id >= p.NextTimerID {
			p.NextTimerID = st.Id + 1
		}
		if st.Next != 0 && tm.Timer != nil {
			out = append(out, restoredTimer{tm, ktime.Setting{Enabled: true, Next: ktime.FromNanoseconds(st.Next), Period: time.Duration(st.Interval)}})
		}
	}
	return out
}

// armRestoredTimers arms restored timers at their recorded expirations:
// one due during the outage fires at once, the expirations it missed
// after the first counted as its overrun.
func armRestoredTimers(rts []restoredTimer) {
	for _, rt := range rts {
		rt.tm.Timer.Set(rt.s, nil)
	}
}

// validTimerState checks a restored TimerState's fields.
func validTimerState(st *sentrypb.TimerState) bool {
	if st == nil || st.Pid <= 0 || st.Pid >= maxTID || st.Id < itimerRealID || st.Interval < 0 || st.Next < 0 {
		return false
	}
	switch st.Notify {
	case sigevNone:
		return true
	case sigevSignal, sigevThread, sigevSignal | sigevThreadID:
		return st.Signo > 0 && st.Signo <= ksignal.NumSignals
	}
	return false
}

// observeClocks refines the application's clocks from a sample of the
// client's (Syscall.clocks, Heartbeat.clocks) taken before the message
// being handled was sent (ktimer.Clock.Observe).
func observeClocks(c ktimer.Clocks, cs *sentrypb.ClockSample) {
	if cs != nil {
		c.Observe(cs.GetRealtime(), cs.GetMonotonic(), cs.GetBoottime())
	}
}

// isCPUClock says whether clockID names a CPU-time clock:
// CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID or one made by
// clock_getcpuclockid (negative). Timers on them are the client's.
func isCPUClock(clockID int32) bool {
	return clockID < 0 || clockID == unix.CLOCK_PROCESS_CPUTIME_ID || clockID == unix.CLOCK_THREAD_CPUTIME_ID
}

// cpuClockExistsLocked says whether CPU clock clockID names a live
// process, or a live thread of caller p, for a timer of p (Linux's
// encoding: ^id << 3 | per-thread 4 | which, which 3 invalid; id 0 is the
// caller). Precondition: k.Mu held.
func cpuClockExistsLocked(k *clientState, p *process, clockID int32) bool {
	if clockID >= 0 {
		return true
	}
	id, which, perThread := ^(clockID >> 3), clockID&3, clockID&4 != 0
	switch {
	case which == 3:
		return false
	case id == 0:
		return true
	case perThread:
		t := k.Threads[id]
		return t != nil && !t.Killed && t.Proc == p
	default:
		p := k.Procs[id]
		return p != nil && !p.Exiting
	}
}
