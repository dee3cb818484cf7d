package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// The terminal's side of job control (package kernel's jobctl.go holds
// the group stops and SIGCONT): SIGTTIN and SIGTTOU for a background
// process group's reads and writes, and the session leader's terminal.

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
	sc := kernel.TaskFromCall(c)
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
	if k.OrphanedPgrpLocked(p.PGID) {
		k.Mu.Unlock()
		return unix.EIO
	}
	info := ksignal.SiginfoKill(sig, ksignal.SIKernel, 0, 0)
	for _, q := range k.ProcessGroupLocked(p.PGID) {
		k.SignalFromAppLocked(q, nil, sig, info, &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	return syserr.RestartSys
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
