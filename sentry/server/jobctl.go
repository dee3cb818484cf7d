package server

import (
	"slices"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
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

// stopSignals are SIGSTOP, SIGTSTP, SIGTTIN and SIGTTOU as a JobControl
// discard set (bit n-1 for signal n).
const stopSignals = 1<<(unix.SIGSTOP-1) | 1<<(unix.SIGTSTP-1) | 1<<(unix.SIGTTIN-1) | 1<<(unix.SIGTTOU-1)

const contSignal = 1 << (unix.SIGCONT - 1)

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
func jobControlOnSignalLocked(k *clientState, p *process, sig int, d *deferred) (discard uint64) {
	switch {
	case ksignal.DefaultActionOf(sig) == ksignal.ActStop:
		return contSignal
	case sig == int(unix.SIGCONT):
		if p.Stopped {
			p.Stopped, p.StopSig = false, 0
			p.WaitCode = ksignal.CLDContinued
			k.Trk.Changed(p)
			notifyParentStopLocked(k, p, ksignal.CLDContinued, int32(unix.SIGCONT), d)
			k.Waitq.Notify()
		}
		return stopSignals
	}
	return 0
}

// stopProcessLocked stops p with stop signal sig (its default action),
// unless sig is SIGTSTP, SIGTTIN or SIGTTOU and p's process group is
// orphaned (Linux discards those then: no one could continue the group).
// A process already stopped stays as it is (no second report).
//
// Preconditions: k.Mu is held; p is not exiting.
func stopProcessLocked(k *clientState, p *process, sig int, d *deferred) {
	if p.Stopped {
		return
	}
	if sig != int(unix.SIGSTOP) && orphanedPgrpLocked(k, p.PGID) {
		return
	}
	p.Stopped, p.StopSig = true, sig
	p.WaitCode = ksignal.CLDStopped
	k.Trk.Changed(p)
	pushJobControlLocked(k, p, 0, d)
	notifyParentStopLocked(k, p, ksignal.CLDStopped, int32(sig), d)
	k.Waitq.Notify()
}

// pushJobControlLocked tells the client p's stop state, discarding the
// signals in discard that are pending in p's threads.
func pushJobControlLocked(k *clientState, p *process, discard uint64, d *deferred) {
	d.Push(&sentrypb.Push{Msg: &sentrypb.Push_JobControl{JobControl: &sentrypb.JobControl{
		Pid: p.PID, Stopped: p.Stopped, Discard: discard, StopSignal: int32(p.StopSig),
	}}})
}

// notifyParentStopLocked sends SIGCHLD with code (CLD_STOPPED or
// CLD_CONTINUED) and status to p's parent, unless the parent ignores
// SIGCHLD or set SA_NOCLDSTOP (Linux's do_notify_parent_cldstop).
func notifyParentStopLocked(k *clientState, p *process, code, status int32, d *deferred) {
	par := p.Parent
	if par == nil || par.Exiting {
		return
	}
	act := par.Sig.Act[unix.SIGCHLD]
	if act.Handler == ksignal.SigIgn || act.Flags&ksignal.SANoCldStop != 0 {
		return
	}
	signalProcessLocked(k, par, nil, int(unix.SIGCHLD), ksignal.SiginfoChld(int(unix.SIGCHLD), code, p.PID, p.Creds.RUID, status), d)
}

// orphanedPgrpLocked says process group pgid is orphaned: no member has a
// parent in another group of the same session (POSIX; Linux's
// will_become_orphaned_pgrp). The application's first process has no
// parent here, as its real parent is outside the sandbox's session.
func orphanedPgrpLocked(k *clientState, pgid int32) bool {
	for _, q := range processGroupLocked(k, pgid) {
		par := q.Parent
		if par != nil && !par.Exiting && par.PGID != pgid && par.SID == q.SID {
			return false
		}
	}
	return true
}

// waitEventLocked returns the stop or continue event of child ch that a
// wait with options reports (its wait status and waitid's si_code and
// si_status), consuming it unless WNOWAIT; ok is false if there is none.
func waitEventLocked(k *clientState, ch *process, options uint32) (status, code, sistatus int32, ok bool) {
	if ch.Exiting {
		return 0, 0, 0, false
	}
	switch {
	case ch.WaitCode == ksignal.CLDStopped && ch.Stopped && options&wUntraced != 0:
		status, code, sistatus = int32(ch.StopSig)<<8|0x7f, ksignal.CLDStopped, int32(ch.StopSig)
	case ch.WaitCode == ksignal.CLDContinued && options&wContinued != 0:
		status, code, sistatus = 0xffff, ksignal.CLDContinued, int32(unix.SIGCONT)
	default:
		return 0, 0, 0, false
	}
	if options&wNowait == 0 {
		ch.WaitCode = 0
		k.Trk.Changed(ch)
	}
	return status, code, sistatus, true
}

// restoreJobControlLocked sets p's stop state from its record, ignoring
// values no server could have reported.
func restoreJobControlLocked(k *clientState, p *process, ps *sentrypb.ProcessState) {
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

// ttyStopsWrites says terminal term's TOSTOP flag is set.
func ttyStopsWrites(k *clientState, term *ttyState) bool {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	return pty.StopsWrites(term.Termios)
}

// ttyJobControl applies job control to a read (sig SIGTTIN) or a write
// with TOSTOP (SIGTTOU) of terminal stdio s by the calling process
// (JobControlAccess). The session of the first stdio set's terminal is
// the first process's; a spawned process's set names its own
// (ttyState.sid).
func ttyJobControl(k *clientState, c fdesc.Call, s *stdioFile, sig int) error {
	k.Mu.Lock()
	term := s.term
	present, sid, fg := term.Present, term.Sid, term.FgPgrp
	if s.set == 0 {
		sid = -1
		if k.Init != nil {
			sid = k.Init.SID
		}
	}
	k.Mu.Unlock()
	if !present {
		return nil
	}
	return ports(k).JobControlAccess(c, sid, fg, sig)
}

// JobControlAccess applies a terminal's job control to a read (sig
// SIGTTIN) or a write with TOSTOP (SIGTTOU) of the controlling terminal
// of session sid, whose foreground process group is fgPgrp, by the
// calling process, as Linux's __tty_check_change does: a process of that
// session outside the foreground group gets EIO when it ignores SIGTTIN
// or its group is orphaned, may write when it ignores SIGTTOU, and
// otherwise its whole group is sent sig and the call returns
// ERESTARTSYS, to be made again once the group continues (in the
// foreground, one hopes). Masks are the client's, so a blocked sig counts
// as not ignored.
func (kp *kernelPorts) JobControlAccess(c fdesc.Call, sid, fgPgrp int32, sig int) error {
	k := (*clientState)(kp)
	sc := callOf(c)
	if sc == nil || sc.Thread == nil {
		// No calling thread (a PageWrite): no job control.
		return nil
	}
	var d deferred
	k.Mu.Lock()
	p := sc.Thread.Proc
	if sid <= 0 || p.SID != sid || fgPgrp == 0 || p.PGID == fgPgrp {
		k.Mu.Unlock()
		return nil
	}
	if p.Sig.Act[sig].Handler == ksignal.SigIgn {
		k.Mu.Unlock()
		if sig == int(unix.SIGTTIN) {
			return unix.EIO
		}
		return nil
	}
	if orphanedPgrpLocked(k, p.PGID) {
		k.Mu.Unlock()
		return unix.EIO
	}
	info := ksignal.SiginfoKill(sig, ksignal.SIKernel, 0, 0)
	for _, q := range processGroupLocked(k, p.PGID) {
		signalFromAppLocked(k, q, nil, sig, info, &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	return syserr.RestartSys
}

// orphanableByExitLocked returns the process groups that exiting p may
// leave orphaned: its own, if its parent is in another group of its
// session, and each child's that is another group of its session.
func orphanableByExitLocked(k *clientState, p *process) []int32 {
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
func hangUpOrphanedLocked(k *clientState, pgids []int32, d *deferred) {
	for _, pgid := range pgids {
		members := processGroupLocked(k, pgid)
		if !slices.ContainsFunc(members, func(q *process) bool { return q.Stopped }) || !orphanedPgrpLocked(k, pgid) {
			continue
		}
		for _, sig := range []int{int(unix.SIGHUP), int(unix.SIGCONT)} {
			info := ksignal.SiginfoKill(sig, ksignal.SIKernel, 0, 0)
			for _, q := range members {
				signalProcessLocked(k, q, nil, sig, info, d)
			}
		}
	}
}

// ttyForegroundLocked is the foreground process group of the stdio
// terminal whose session p leads (ProcessState.tty_foreground_pgrp): the
// first process's for the client's own stdio, a spawned process's for its
// stdio set; 0 if p leads none.
//
// Preconditions: k.Mu is locked.
func ttyForegroundLocked(k *clientState, p *process) int32 {
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

// markTTYLeaderLocked marks the record of the process whose session
// stdio terminal s is, after its foreground group changed.
//
// Preconditions: k.Mu is locked.
func markTTYLeaderLocked(k *clientState, s *stdioFile) {
	leader := k.Init
	if s.set != 0 {
		leader = k.Procs[s.term.Sid]
	}
	if leader != nil {
		k.Trk.Changed(leader)
	}
}

// restoredForegroundLocked is the foreground group a restored terminal
// gets: the one ps recorded if that group still has a process, else def
// (the session leader's own group).
//
// Preconditions: k.Mu is locked.
func restoredForegroundLocked(k *clientState, ps *sentrypb.ProcessState, def int32) int32 {
	if fg := ps.GetTtyForegroundPgrp(); fg > 0 && len(processGroupLocked(k, fg)) > 0 {
		return fg
	}
	return def
}
