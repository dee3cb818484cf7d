package kernel

import (
	"cmp"
	"slices"

	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
)

// Scheduling attributes: each thread's nice value, policy and real-time
// priority (getpriority, sched_setscheduler, sched_setattr). They are
// kernel state the application reads back and its children inherit, so
// they live here, in the thread's record, and survive a recovery. The
// host schedules the application's threads (on the client) with its
// normal policy: the attributes are recorded, not applied.

// Nice values (Linux's MIN_NICE, MAX_NICE) and the highest real-time
// priority (MAX_RT_PRIO - 1).
const (
	MinNice       = -20
	MaxNice       = 19
	MaxRTPriority = 99
)

// SchedAttr is a thread's scheduling attributes.
type SchedAttr struct {
	// Nice is the static nice value (MinNice..MaxNice), kept under a
	// real-time policy too.
	Nice int32
	// Policy is SCHED_NORMAL, _FIFO, _RR, _BATCH, _IDLE or _DEADLINE.
	Policy uint32
	// RTPriority is the real-time priority: 1..MaxRTPriority under
	// SCHED_FIFO and SCHED_RR, 0 otherwise.
	RTPriority uint32
	// ResetOnFork says a child starts with SCHED_NORMAL and a nice value
	// of at least 0 (SCHED_RESET_ON_FORK).
	ResetOnFork bool
	// Runtime, Deadline and Period are SCHED_DEADLINE's parameters in
	// nanoseconds.
	Runtime, Deadline, Period uint64
	// IOPrio is the I/O priority ioprio_set set (class << 13 | hint << 3
	// | level; 0 is IOPRIO_CLASS_NONE: none set). Recorded and reported,
	// not applied to the host's I/O.
	IOPrio uint16
}

// IsRT says the policy is SCHED_FIFO or SCHED_RR.
func (a SchedAttr) IsRT() bool {
	return a.Policy == linux.SCHED_FIFO || a.Policy == linux.SCHED_RR
}

// IsFair says the policy is one of the fair class: SCHED_NORMAL,
// SCHED_BATCH or SCHED_IDLE, whose threads' nice value matters.
func (a SchedAttr) IsFair() bool {
	return a.Policy == linux.SCHED_NORMAL || a.Policy == linux.SCHED_BATCH || a.Policy == linux.SCHED_IDLE
}

// Forked is the attributes of a thread cloned by one with a: Linux's
// sched_fork, which resets a SCHED_RESET_ON_FORK parent's real-time or
// deadline policy to SCHED_NORMAL and a negative nice value to 0.
func (a SchedAttr) Forked() SchedAttr {
	if !a.ResetOnFork {
		return a
	}
	if !a.IsFair() {
		a = SchedAttr{IOPrio: a.IOPrio}
	}
	a.Nice = max(a.Nice, 0)
	a.ResetOnFork = false
	return a
}

// proto is a as its record carries it (nil for the defaults, so that a
// thread's record stays as small as before).
func (a SchedAttr) proto() *sentrypb.SchedState {
	if a == (SchedAttr{}) {
		return nil
	}
	return &sentrypb.SchedState{Nice: a.Nice, Policy: a.Policy, RtPriority: a.RTPriority, ResetOnFork: a.ResetOnFork,
		Runtime: a.Runtime, Deadline: a.Deadline, Period: a.Period, Ioprio: uint32(a.IOPrio)}
}

// schedFromProto is the attributes a thread record carries, clamped to
// what setscheduler could have set (a record is input from the client).
func schedFromProto(s *sentrypb.SchedState) SchedAttr {
	if s == nil {
		return SchedAttr{}
	}
	a := SchedAttr{Nice: min(max(s.Nice, MinNice), MaxNice), Policy: s.Policy, RTPriority: s.RtPriority,
		ResetOnFork: s.ResetOnFork, Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period}
	switch {
	case a.IsRT():
		a.RTPriority = min(max(a.RTPriority, 1), MaxRTPriority)
	case a.IsFair() || a.Policy == linux.SCHED_DEADLINE:
		a.RTPriority = 0
	default:
		a = SchedAttr{Nice: a.Nice}
	}
	if s.Ioprio <= 0xffff && ValidIOPrio(uint16(s.Ioprio)) {
		a.IOPrio = uint16(s.Ioprio)
	}
	return a
}

// SameOwner says a process with creds cr runs as target's real or
// effective user (Linux's check_same_owner).
func SameOwner(cr auth.Creds, target *Process) bool {
	return cr.EUID == target.Creds.RUID || cr.EUID == target.Creds.EUID
}

// MayReschedule says a process with creds cr may change the nice value
// of target's threads: it is the same owner or has CAP_SYS_NICE (Linux's
// set_one_prio_perm).
func MayReschedule(cr auth.Creds, target *Process) bool {
	return SameOwner(cr, target) || cr.Capable(linux.CAP_SYS_NICE)
}

// ThreadsMatchingLocked returns the threads getpriority and setpriority
// act on: with which PRIO_PROCESS the thread who (the caller's when 0),
// PRIO_PGRP every thread of process group who (the caller's), PRIO_USER
// every thread of the processes whose real user is who (the caller's).
// Zombies' threads are left out but for PRIO_PROCESS (Linux finds a
// task until it is reaped). ok is false for another which.
func (k *Kernel) ThreadsMatchingLocked(caller *Thread, which, who int32) (ts []*Thread, ok bool) {
	switch which {
	case linux.PRIO_PROCESS:
		if who == 0 {
			return []*Thread{caller}, true
		}
		if th := k.Threads[who]; th != nil {
			return []*Thread{th}, true
		}
		return nil, true
	case linux.PRIO_PGRP:
		if who == 0 {
			who = caller.Proc.PGID
		}
		for _, p := range k.Procs {
			if p.PGID == who {
				ts = appendLive(ts, p)
			}
		}
	case linux.PRIO_USER:
		uid := uint32(who)
		if who == 0 {
			uid = caller.Proc.Creds.RUID
		}
		ts = k.threadsOfUserLocked(uid)
	default:
		return nil, false
	}
	// In TID order, so that which refusal setpriority reports does not
	// depend on map order.
	slices.SortFunc(ts, func(a, b *Thread) int { return cmp.Compare(a.TID, b.TID) })
	return ts, true
}

// threadsOfUserLocked returns the live threads of the processes whose
// real user is uid, in TID order. Precondition: k.Mu is held.
func (k *Kernel) threadsOfUserLocked(uid uint32) []*Thread {
	var ts []*Thread
	for _, p := range k.Procs {
		if p.Creds.RUID == uid {
			ts = appendLive(ts, p)
		}
	}
	slices.SortFunc(ts, func(a, b *Thread) int { return cmp.Compare(a.TID, b.TID) })
	return ts
}

func appendLive(ts []*Thread, p *Process) []*Thread {
	for th := range p.Live {
		ts = append(ts, th)
	}
	return ts
}

// DefaultTimerSlack is the first process's timer slack (Linux's 50 us).
const DefaultTimerSlack = 50000

// TimerSlack is a thread's timer slack in nanoseconds: how late its
// timers may fire to be coalesced. The client's timers do not use it (a
// timer firing on time is within any slack); it is kept for the
// application to read back (prctl, /proc/[pid]/timerslack_ns) and for its
// children. A zero value is the default's.
type TimerSlack struct {
	// Current is the slack; Default the one setting 0 restores (the
	// parent's slack when the thread was created).
	Current, Default uint64
}

// Get is the current slack.
func (s TimerSlack) Get() uint64 { return cmp.Or(s.Current, DefaultTimerSlack) }

// Set sets the slack to ns, or back to the default for 0.
func (s *TimerSlack) Set(ns uint64) {
	if ns == 0 {
		ns = cmp.Or(s.Default, DefaultTimerSlack)
	}
	s.Current = ns
}

// Forked is the slack of a thread created by one with s: the same, with
// s's current slack as its default.
func (s TimerSlack) Forked() TimerSlack { return TimerSlack{Current: s.Current, Default: s.Current} }

// proto is ns as a record keeps it (0 for the default).
func (TimerSlack) proto(ns uint64) uint64 {
	if ns == DefaultTimerSlack {
		return 0
	}
	return ns
}

// restoreSched sets th's scheduling attributes and timer slack from its
// record.
func (th *Thread) restoreSched(ts *sentrypb.ThreadState) {
	th.Sched = schedFromProto(ts.Sched)
	th.TimerSlack = TimerSlack{Current: ts.TimerSlackNs, Default: ts.DefaultTimerSlackNs}
}
