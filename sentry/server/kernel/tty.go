package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/stdio"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// The terminal's side of job control (jobctl.go holds
// the group stops and SIGCONT): SIGTTIN and SIGTTOU for a background
// process group's reads and writes, and the session leader's terminal.

// ttyStopsWrites says terminal term's TOSTOP flag is set.
func (k *Kernel) ttyStopsWrites(term *stdio.TTY) bool {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	return pty.StopsWrites(term.Termios)
}

// ttyJobControl applies job control to a read (sig SIGTTIN) or a write
// with TOSTOP (SIGTTOU) of terminal stdio s by the calling process
// (jobControlAccess). The session of the first stdio set's terminal is
// the first process's; a spawned process's set names its own
// (stdio.TTY.sid).
func (k *Kernel) ttyJobControl(c fdesc.Call, s *StdioFile, sig int) error {
	k.Mu.Lock()
	term := s.Term
	present, sid, fg := term.Present, term.Sid, term.FgPgrp
	if s.Set == 0 {
		sid = -1
		if k.Init != nil {
			sid = k.Init.SID
		}
	}
	k.Mu.Unlock()
	if !present {
		return nil
	}
	return k.JobControlAccess(c, sid, fg, sig)
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
func (k *Kernel) JobControlAccess(c fdesc.Call, sid, fgPgrp int32, sig int) error {
	sc := TaskFromCall(c)
	if sc == nil || sc.Thread == nil {
		// No calling thread (a PageWrite): no job control.
		return nil
	}
	var d Deferred
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

// MarkTTYLeaderLocked marks the record of the process whose session
// stdio terminal s is, after its foreground group changed.
//
// Preconditions: k.Mu is locked.
func (k *Kernel) MarkTTYLeaderLocked(s *StdioFile) {
	leader := k.Init
	if s.Set != 0 {
		leader = k.Procs[s.Term.Sid]
	}
	if leader != nil {
		k.Trk.Changed(leader)
	}
}
