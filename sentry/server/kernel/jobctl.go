package kernel

import (
	"slices"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// Job control: group stops and SIGCONT (docs/ARCHITECTURE.md, "Stop
// signals and job control").
//
// The server decides: a stop signal whose disposition is the default
// stops the process at once (p.stopped, reported in its proc record) and
// a JobControl push tells the client, which owns the threads, to keep
// every thread of the process out of application code until a later
// JobControl says otherwise. The parent learns of it through wait and
// SIGCHLD (CLD_STOPPED, CLD_CONTINUED), as on Linux.

// StopSignals are SIGSTOP, SIGTSTP, SIGTTIN and SIGTTOU as a JobControl
// discard set (bit n-1 for signal n).
const StopSignals = 1<<(unix.SIGSTOP-1) | 1<<(unix.SIGTSTP-1) | 1<<(unix.SIGTTIN-1) | 1<<(unix.SIGTTOU-1)

// ContSignal is SIGCONT as a JobControl discard set.
const ContSignal = 1 << (unix.SIGCONT - 1)

// jobControlOnSignalLocked applies what generating sig does to pending
// signals and stops whatever its disposition (Linux's prepare_signal):
// a stop signal discards a pending SIGCONT; SIGCONT discards pending stop
// signals and continues the process if it is stopped. It returns the set
// of signals the client must discard; the caller sends that JobControl
// push after the signal's own push (pushJobControlLocked), so that a
// handled SIGCONT is queued on the client before the threads run again,
// together with what was queued during the stop, as on Linux.
//
// Preconditions: k.Mu is held; p is not exiting.
func (k *Kernel) jobControlOnSignalLocked(p *Process, sig int, d *Deferred) (discard uint64) {
	switch {
	case ksignal.DefaultActionOf(sig) == ksignal.ActStop:
		return ContSignal
	case sig == int(unix.SIGCONT):
		if p.Stopped {
			p.Stopped, p.StopSig = false, 0
			p.WaitCode = ksignal.CLDContinued
			k.Trk.Changed(p)
			k.notifyParentStopLocked(p, ksignal.CLDContinued, int32(unix.SIGCONT), d)
			k.Waitq.Notify()
		}
		return StopSignals
	}
	return 0
}

// stopProcessLocked stops p with stop signal sig (its default action),
// unless sig is SIGTSTP, SIGTTIN or SIGTTOU and p's process group is
// orphaned (Linux discards those then: no one could continue the group).
// A process already stopped stays as it is (no second report).
//
// Preconditions: k.Mu is held; p is not exiting.
func (k *Kernel) stopProcessLocked(p *Process, sig int, d *Deferred) {
	if p.Stopped {
		return
	}
	if sig != int(unix.SIGSTOP) && k.OrphanedPgrpLocked(p.PGID) {
		return
	}
	p.Stopped, p.StopSig = true, sig
	p.WaitCode = ksignal.CLDStopped
	k.Trk.Changed(p)
	k.pushJobControlLocked(p, 0, d)
	k.notifyParentStopLocked(p, ksignal.CLDStopped, int32(sig), d)
	k.Waitq.Notify()
}

// pushJobControlLocked tells the client p's stop state, discarding the
// signals in discard that are pending in p's threads.
func (k *Kernel) pushJobControlLocked(p *Process, discard uint64, d *Deferred) {
	d.Push(&sentrypb.Push{Msg: &sentrypb.Push_JobControl{JobControl: &sentrypb.JobControl{
		Pid: p.PID, Stopped: p.Stopped, Discard: discard, StopSignal: int32(p.StopSig),
	}}})
}

// notifyParentStopLocked sends SIGCHLD with code (CLD_STOPPED or
// CLD_CONTINUED) and status to p's parent, unless the parent ignores
// SIGCHLD or set SA_NOCLDSTOP (Linux's do_notify_parent_cldstop).
func (k *Kernel) notifyParentStopLocked(p *Process, code, status int32, d *Deferred) {
	par := p.Parent
	if par == nil || par.Exiting {
		return
	}
	act := par.Sig.Act[unix.SIGCHLD]
	if act.Handler == ksignal.SigIgn || act.Flags&ksignal.SANoCldStop != 0 {
		return
	}
	k.SignalProcessLocked(par, nil, int(unix.SIGCHLD), ksignal.SiginfoChld(int(unix.SIGCHLD), code, p.PID, p.Creds.RUID, status), d)
}

// OrphanedPgrpLocked says process group pgid is orphaned: no member has a
// parent in another group of the same session (POSIX; Linux's
// will_become_orphaned_pgrp). The application's first process has no
// parent here, as its real parent is outside the sandbox's session.
func (k *Kernel) OrphanedPgrpLocked(pgid int32) bool {
	for _, q := range k.ProcessGroupLocked(pgid) {
		par := q.Parent
		if par != nil && !par.Exiting && par.PGID != pgid && par.SID == q.SID {
			return false
		}
	}
	return true
}

// WaitEventLocked returns the stop or continue event of child ch that a
// wait with options reports (its wait status and waitid's si_code and
// si_status), consuming it unless WNOWAIT; ok is false if there is none.
func (k *Kernel) WaitEventLocked(ch *Process, options uint32) (status, code, sistatus int32, ok bool) {
	if ch.Exiting {
		return 0, 0, 0, false
	}
	switch {
	case ch.WaitCode == ksignal.CLDStopped && ch.Stopped && options&unix.WUNTRACED != 0:
		status, code, sistatus = int32(ch.StopSig)<<8|0x7f, ksignal.CLDStopped, int32(ch.StopSig)
	case ch.WaitCode == ksignal.CLDContinued && options&unix.WCONTINUED != 0:
		status, code, sistatus = 0xffff, ksignal.CLDContinued, int32(unix.SIGCONT)
	default:
		return 0, 0, 0, false
	}
	if options&unix.WNOWAIT == 0 {
		ch.WaitCode = 0
		k.Trk.Changed(ch)
	}
	return status, code, sistatus, true
}

// restoreJobControlLocked sets p's stop state from its record, ignoring
// values no server could have reported.
func (k *Kernel) restoreJobControlLocked(p *Process, ps *sentrypb.ProcessState) {
	if ps.Stopped && ksignal.DefaultActionOf(int(ps.StopSignal)) == ksignal.ActStop && ps.StopSignal > 0 && ps.StopSignal <= ksignal.NumSignals {
		p.Stopped, p.StopSig = true, int(ps.StopSignal)
	}
	switch ps.WaitCode {
	case ksignal.CLDStopped:
		if p.Stopped {
			p.WaitCode = ksignal.CLDStopped
		}
	case ksignal.CLDContinued:
		p.WaitCode = ksignal.CLDContinued
	}
}

// orphanableByExitLocked returns the process groups that exiting p may
// leave orphaned: its own, if its parent is in another group of its
// session, and each child's that is another group of its session.
func (k *Kernel) orphanableByExitLocked(p *Process) []int32 {
	var out []int32
	if par := p.Parent; par != nil && par.PGID != p.PGID && par.SID == p.SID {
		out = append(out, p.PGID)
	}
	for c := range p.Children {
		if c.PGID != p.PGID && c.SID == p.SID && !slices.Contains(out, c.PGID) {
			out = append(out, c.PGID)
		}
	}
	return out
}

// hangUpOrphanedLocked sends SIGHUP and then SIGCONT to every process of
// each group in pgids that is now orphaned and has a stopped member, as
// Linux does when an exit orphans a group with stopped jobs (no one could
// continue them).
//
// Preconditions: k.Mu is held; the exiting process is marked exiting and
// its children have their new parent.
func (k *Kernel) hangUpOrphanedLocked(pgids []int32, d *Deferred) {
	for _, pgid := range pgids {
		members := k.ProcessGroupLocked(pgid)
		if !slices.ContainsFunc(members, func(q *Process) bool { return q.Stopped }) || !k.OrphanedPgrpLocked(pgid) {
			continue
		}
		for _, sig := range []int{int(unix.SIGHUP), int(unix.SIGCONT)} {
			info := ksignal.SiginfoKill(sig, ksignal.SIKernel, 0, 0)
			for _, q := range members {
				k.SignalProcessLocked(q, nil, sig, info, d)
			}
		}
	}
}

// TTYForegroundLocked is the foreground process group of the stdio
// terminal whose session p leads (ProcessState.tty_foreground_pgrp): the
// first process's for the client's own stdio, a spawned process's for its
// stdio set; 0 if p leads none.
//
// Preconditions: k.Mu is locked.
func (k *Kernel) TTYForegroundLocked(p *Process) int32 {
	if p == k.Init && k.TTY.Present {
		return k.TTY.FgPgrp
	}
	if p.Spawned {
		for _, s := range k.StdioSets {
			if s.TTY.Present && s.TTY.Sid == p.PID {
				return s.TTY.FgPgrp
			}
		}
	}
	return 0
}

// restoredForegroundLocked is the foreground group a restored terminal
// gets: the one ps recorded if that group still has a process, else def
// (the session leader's own group).
//
// Preconditions: k.Mu is locked.
func (k *Kernel) restoredForegroundLocked(ps *sentrypb.ProcessState, def int32) int32 {
	if fg := ps.GetTtyForegroundPgrp(); fg > 0 && len(k.ProcessGroupLocked(fg)) > 0 {
		return fg
	}
	return def
}

// WaitResult is what a wait reports of one child.
type WaitResult struct {
	PID    int32
	Status int32 // the wait status (wait4)
	UID    uint32
	// code and sistatus are waitid's si_code and si_status.
	Code, SIStatus int32
}
