package server

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// jobControlPushes returns the JobControl pushes for pid seen so far.
func (e *env) jobControlPushes(pid int32) []*sentrypb.JobControl {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*sentrypb.JobControl
	for _, ev := range e.events {
		if p, ok := ev.(*sentrypb.Push); ok && p.GetJobControl().GetPid() == pid {
			out = append(out, p.GetJobControl())
		}
	}
	return out
}

// lastRecord returns the last state record in a reply or push that match
// accepts.
func (e *env) lastRecord(match func(*sentrypb.StateRecord) bool) *sentrypb.StateRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	var last *sentrypb.StateRecord
	for _, ev := range e.events {
		var recs []*sentrypb.StateRecord
		switch m := ev.(type) {
		case *sentrypb.Reply:
			recs = m.State
		case *sentrypb.Push:
			recs = m.GetState().GetRecords()
		}
		for _, r := range recs {
			if match(r) {
				last = r
			}
		}
	}
	return last
}

// procRecord returns the last proc record of pid in a reply or push.
func (e *env) procRecord(pid int32) *sentrypb.ProcessState {
	return e.lastRecord(func(r *sentrypb.StateRecord) bool { return r.GetProcess() != nil && r.GetProcess().Pid == pid }).GetProcess()
}

// TestJobControl checks the server's half of job control: which signals
// stop a child, what wait4 reports and consumes, the JobControl pushes
// and the replay record, orphaned groups, and fatal signals to a stopped
// process.
func TestJobControl(t *testing.T) {
	const stopStatus = 0x7f
	for _, tc := range []struct {
		name string
		// group: "" (init's group), "own" (setpgid(0,0): its parent is
		// elsewhere in the session), "session" (setsid: orphaned).
		group   string
		signals []unix.Signal
		// wait is what wait4(child, WUNTRACED|WCONTINUED|WNOHANG) reports
		// first (0: nothing), then nothing more.
		wait        uint32
		stopped     bool  // the record and the last push say stopped
		pushes      int   // JobControl pushes for the child
		signalPush  int32 // a SignalPush for the child (0: none)
		discardLast uint64
	}{
		{name: "SIGSTOP stops", signals: []unix.Signal{unix.SIGSTOP}, wait: uint32(unix.SIGSTOP)<<8 | stopStatus, stopped: true, pushes: 2, discardLast: kernel.ContSignal},
		{name: "a second SIGSTOP is no new stop", signals: []unix.Signal{unix.SIGSTOP, unix.SIGSTOP}, wait: uint32(unix.SIGSTOP)<<8 | stopStatus, stopped: true, pushes: 3, discardLast: kernel.ContSignal},
		{name: "SIGTSTP in an orphaned group is discarded", group: "session", signals: []unix.Signal{unix.SIGTSTP}, pushes: 1, discardLast: kernel.ContSignal},
		{name: "SIGSTOP in an orphaned group stops", group: "session", signals: []unix.Signal{unix.SIGSTOP}, wait: uint32(unix.SIGSTOP)<<8 | stopStatus, stopped: true, pushes: 2, discardLast: kernel.ContSignal},
		{name: "SIGTTIN with a parent in the session stops", group: "own", signals: []unix.Signal{unix.SIGTTIN}, wait: uint32(unix.SIGTTIN)<<8 | stopStatus, stopped: true, pushes: 2, discardLast: kernel.ContSignal},
		{name: "SIGCONT continues", signals: []unix.Signal{unix.SIGSTOP, unix.SIGCONT}, wait: 0xffff, pushes: 3, discardLast: kernel.StopSignals},
		{name: "SIGCONT of a running process", signals: []unix.Signal{unix.SIGCONT}, pushes: 1, discardLast: kernel.StopSignals},
		{name: "SIGTERM waits while stopped", signals: []unix.Signal{unix.SIGSTOP, unix.SIGTERM}, wait: uint32(unix.SIGSTOP)<<8 | stopStatus, stopped: true, pushes: 2, signalPush: int32(unix.SIGTERM), discardLast: kernel.ContSignal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			child := e.fork(1)
			switch tc.group {
			case "own":
				e.ok(child, unix.SYS_SETPGID, 0, 0)
			case "session":
				e.ok(child, unix.SYS_SETSID)
			}
			for _, sig := range tc.signals {
				e.ok(1, unix.SYS_KILL, uint64(child), uint64(sig))
			}
			const opts = 2 | 8 | unix.WNOHANG // WUNTRACED | WCONTINUED
			pid, st := e.wait4(1, int64(child), opts)
			if tc.wait == 0 && pid != 0 || tc.wait != 0 && (pid != int64(child) || st != tc.wait) {
				t.Errorf("wait4 = %d %#x, want %#x", pid, st, tc.wait)
			}
			if pid, _ := e.wait4(1, int64(child), opts); pid != 0 {
				t.Errorf("a second wait4 reported %d again", pid)
			}
			jcs := e.jobControlPushes(child)
			if len(jcs) != tc.pushes {
				t.Fatalf("%d JobControl pushes %v, want %d", len(jcs), jcs, tc.pushes)
			}
			if len(jcs) > 0 {
				last := jcs[len(jcs)-1]
				if last.Stopped != tc.stopped || last.Discard != tc.discardLast {
					t.Errorf("last JobControl %v, want stopped %v discard %#x", last, tc.stopped, tc.discardLast)
				}
			}
			if rec := e.procRecord(child); rec.GetStopped() != tc.stopped {
				t.Errorf("record %v: stopped %v, want %v", rec, rec.GetStopped(), tc.stopped)
			}
			var sigs []int32
			e.mu.Lock()
			for _, ev := range e.events {
				if p, ok := ev.(*sentrypb.Push); ok && p.GetSignal().GetTid() == child {
					sigs = append(sigs, p.GetSignal().Signo)
				}
			}
			e.mu.Unlock()
			if tc.signalPush == 0 && len(sigs) > 0 || tc.signalPush != 0 && (len(sigs) != 1 || sigs[0] != tc.signalPush) {
				t.Errorf("signal pushes %v, want %d", sigs, tc.signalPush)
			}
			// The child is alive whatever happened (SIGKILL ends it).
			if r := e.sys(child, unix.SYS_GETPID); r.GetExit() != nil {
				t.Errorf("child died: %v", r)
			}
			e.ok(1, unix.SYS_KILL, uint64(child), uint64(unix.SIGKILL))
			if pid, st := e.wait4(1, int64(child), 0); pid != int64(child) || st != uint32(unix.SIGKILL) {
				t.Errorf("after SIGKILL: wait4 = %d %#x", pid, st)
			}
		})
	}
}

// TestKillPermission checks Linux's rule for who may signal whom.
func TestKillPermission(t *testing.T) {
	e := started(t)
	victim := e.fork(1)
	e.ok(victim, unix.SYS_SETRESUID, 1000, 1000, 1000)
	other := e.fork(1)
	e.ok(other, unix.SYS_SETRESUID, 2000, 2000, 2000)
	same := e.fork(1)
	e.ok(same, unix.SYS_SETRESUID, 3000, 1000, 3000) // effective uid is the victim's
	for _, tc := range []struct {
		name   string
		sender int32
		sysno  uintptr
		args   []uint64
		want   unix.Errno
	}{
		{"another user's kill", other, unix.SYS_KILL, []uint64{uint64(victim), uint64(unix.SIGUSR1)}, unix.EPERM},
		{"another user's kill 0", other, unix.SYS_KILL, []uint64{uint64(victim), 0}, unix.EPERM},
		{"another user's tgkill", other, unix.SYS_TGKILL, []uint64{uint64(victim), uint64(victim), uint64(unix.SIGUSR1)}, unix.EPERM},
		{"another user's SIGCONT in the session", other, unix.SYS_KILL, []uint64{uint64(victim), uint64(unix.SIGCONT)}, 0},
		{"effective uid matches", same, unix.SYS_KILL, []uint64{uint64(victim), 0}, 0},
		{"root", 1, unix.SYS_KILL, []uint64{uint64(victim), 0}, 0},
		{"a group where one may be signalled", other, unix.SYS_KILL, []uint64{0, 0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.sys(tc.sender, tc.sysno, tc.args...); unix.Errno(r.Errno) != tc.want {
				t.Errorf("errno %v, want %v", unix.Errno(r.Errno), tc.want)
			}
		})
	}
}
