package kernel

import (
	"encoding/binary"
	"math"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/sentry/ktime"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// This file holds the timers that raise signals: a process's ITIMER_REAL
// (alarm, setitimer) and its POSIX timers (timer_create). Each is an
// AppTimer over a ktimer.Timer on the application's clock; an expiration
// routes its signal as kill does (SignalFromAppLocked).
// Timers are replay state ("timer/<pid>/<id>", TimerState): their setting
// is reported when it changes and after each expiration, and a restored
// server re-arms them (restoreTimersLocked), firing at once those due
// during the outage. The system calls are package syscalls' (timers.go).

const (
	// ITimerRealID is the TimerState id of a process's ITIMER_REAL.
	ITimerRealID = -1

	// SITimer is siginfo's si_code of a POSIX timer's signal.
	SITimer = -2

	// A sigevent's sigev_notify.
	SigevSignal   = 0
	SigevNone     = 1
	SigevThread   = 2
	SigevThreadID = 4
)

// NewTimerLocked makes (not arms) timer id of p. Precondition: k.Mu held.
func (k *Kernel) NewTimerLocked(p *Process, id, clockID int32, clk *ktimer.Clock) *AppTimer {
	tm := &AppTimer{Proc: p, ID: id, ClockID: clockID, Notify: SigevSignal, Signo: int32(unix.SIGALRM)}
	if clk != nil {
		tm.Timer = ktimer.NewTimer(clk, ktimer.ListenerFunc(func(exp uint64) { k.timerExpired(tm, exp) }))
	}
	if p.Timers == nil {
		p.Timers = make(map[int32]*AppTimer)
	}
	p.Timers[id] = tm
	k.Trk.Changed(tm)
	return tm
}

// DeleteTimerLocked stops and forgets tm. Precondition: k.Mu held.
func (k *Kernel) DeleteTimerLocked(tm *AppTimer) {
	tm.Deleted = true
	if tm.Timer != nil {
		tm.Timer.Destroy()
	}
	delete(tm.Proc.Timers, tm.ID)
	k.Trk.Changed(tm)
}

// DeleteTimersLocked deletes p's POSIX timers, and its ITIMER_REAL too
// when all is set (exit; exec keeps it, as Linux does).
func (k *Kernel) DeleteTimersLocked(p *Process, all bool) {
	for id, tm := range p.Timers {
		if all || id != ITimerRealID {
			k.DeleteTimerLocked(tm)
		}
	}
}

// timerExpired routes the signal of exp expirations of tm (its ktimer
// listener: called with no lock held).
func (k *Kernel) timerExpired(tm *AppTimer, exp uint64) {
	var d Deferred
	k.Mu.Lock()
	if !tm.Deleted && !tm.Proc.Exiting {
		// The setting moved on (or a one-shot timer disarmed): report it.
		k.Trk.Changed(tm)
		k.timerFiredLocked(tm, exp, &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
}

// timerFiredLocked sends tm's signal for exp expirations; the ones after
// the first are its overrun. Precondition: k.Mu held.
func (k *Kernel) timerFiredLocked(tm *AppTimer, exp uint64, d *Deferred) {
	if tm.Notify == SigevNone {
		return
	}
	sig := int(tm.Signo)
	var info []byte
	if tm.ID == ITimerRealID {
		// Linux sends SIGALRM of an ITIMER_REAL as the kernel.
		info = ksignal.SiginfoKill(sig, ksignal.SIKernel, 0, 0)
	} else {
		info = make([]byte, ksignal.SizeofSiginfo)
		binary.LittleEndian.PutUint32(info[0:], uint32(sig))
		code := int32(SITimer)
		binary.LittleEndian.PutUint32(info[8:], uint32(code))
		binary.LittleEndian.PutUint32(info[16:], uint32(tm.ID))
		binary.LittleEndian.PutUint32(info[20:], uint32(min(exp-1, math.MaxInt32)))
		binary.LittleEndian.PutUint64(info[24:], tm.Value)
	}
	p := tm.Proc
	var target *Thread
	if tm.Notify&SigevThreadID != 0 {
		if t := k.Threads[tm.TID]; t != nil && t.Proc == p && !t.Killed {
			target = t
		}
	}
	k.TimerSignalLocked(p, target, sig, info, d)
}

// TimerSignalLocked sends a timer's signal to p (to target if not nil):
// the server's timers' and, through rt_sigqueueinfo and
// rt_tgsigqueueinfo with SI_TIMER, the client's CPU-clock timers'.
// Precondition: k.Mu held.
func (k *Kernel) TimerSignalLocked(p *Process, target *Thread, sig int, info []byte, d *Deferred) {
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
	k.SignalFromAppLocked(p, target, sig, info, d)
}

// timerRecord is tm's TimerState. Precondition: k.Mu held.
func timerRecord(tm *AppTimer) *sentrypb.StateRecord {
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

// TimerRecordLocked reports tm (deleted once gone). Precondition: k.Mu
// held.
func (k *Kernel) TimerRecordLocked(tm *AppTimer) *sentrypb.StateRecord {
	if tm.Deleted || tm.Proc.Exiting || k.Procs[tm.Proc.PID] != tm.Proc {
		return DeletedRec(statekey.Timer(tm.Proc.PID, tm.ID))
	}
	return timerRecord(tm)
}

// itimerRealLocked returns p's ITIMER_REAL, made on first use.
// Precondition: k.Mu held.
func (k *Kernel) itimerRealLocked(p *Process) *AppTimer {
	if tm := p.Timers[ITimerRealID]; tm != nil {
		return tm
	}
	return k.NewTimerLocked(p, ITimerRealID, unix.CLOCK_REALTIME, k.Clocks.Realtime)
}

// SetItimerReal arms p's ITIMER_REAL and returns its old (interval,
// value).
func (c *Task) SetItimerReal(interval, value time.Duration) (time.Duration, time.Duration, error) {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	if p.Exiting {
		return 0, 0, unix.ESRCH
	}
	tm := k.itimerRealLocked(p)
	var s ktime.Setting
	if value > 0 {
		s = ktime.Setting{Enabled: true, Next: tm.Timer.Clock().Now().Add(value), Period: interval}
	}
	now, old := tm.Timer.Set(s, nil)
	k.Trk.Changed(tm)
	oi, ov := ktimer.SpecOf(now, old)
	return oi, ov, nil
}

// PosixTimerLocked returns the caller's timer id. Precondition: k.Mu held.
func (c *Task) PosixTimerLocked(id int32) (*AppTimer, error) {
	tm := c.Thread.Proc.Timers[id]
	if id < 0 || tm == nil {
		return nil, unix.EINVAL
	}
	return tm, nil
}

// restoredTimer is a restored timer and the setting to arm it with.
type restoredTimer struct {
	tm *AppTimer
	s  ktime.Setting
}

// restoreTimersLocked rebuilds the timers of restored processes, not yet
// armed: armRestoredTimers arms them once the restore is complete.
// Precondition: k.Mu held.
func (k *Kernel) restoreTimersLocked(states []*sentrypb.TimerState) []restoredTimer {
	var out []restoredTimer
	for _, st := range states {
		p := k.Procs[st.Pid]
		clk := k.Clocks.ByID(st.Clock)
		if p == nil || p.Exiting || (clk == nil && !IsCPUClock(st.Clock)) || p.Timers[st.Id] != nil {
			k.Log.Warn("restore: timer dropped", "pid", st.Pid, "id", st.Id, "clock", st.Clock)
			continue
		}
		tm := k.NewTimerLocked(p, st.Id, st.Clock, clk)
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
	if st == nil || st.Pid <= 0 || st.Pid >= MaxTID || st.Id < ITimerRealID || st.Interval < 0 || st.Next < 0 {
		return false
	}
	switch st.Notify {
	case SigevNone:
		return true
	case SigevSignal, SigevThread, SigevSignal | SigevThreadID:
		return st.Signo > 0 && st.Signo <= ksignal.NumSignals
	}
	return false
}

// IsCPUClock says whether clockID names a CPU-time clock:
// CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID or one made by
// clock_getcpuclockid (negative). Timers on them are the client's.
func IsCPUClock(clockID int32) bool {
	return clockID < 0 || clockID == unix.CLOCK_PROCESS_CPUTIME_ID || clockID == unix.CLOCK_THREAD_CPUTIME_ID
}

// CPUClockExistsLocked says whether CPU clock clockID names a live
// process, or a live thread of caller p, for a timer of p (Linux's
// encoding: ^id << 3 | per-thread 4 | which, which 3 invalid; id 0 is the
// caller). Precondition: k.Mu held.
func (k *Kernel) CPUClockExistsLocked(p *Process, clockID int32) bool {
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
