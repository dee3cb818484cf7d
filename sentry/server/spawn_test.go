package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// spawn sends a Spawn call of argv with stdio set id set.
func (e *env) spawn(set uint32, tty bool, argv ...string) *sentrypb.Reply {
	e.t.Helper()
	var stdio []*sentrypb.StdioInfo
	for fd := int32(0); fd < 3; fd++ {
		stdio = append(stdio, &sentrypb.StdioInfo{Fd: fd, IsTty: tty})
	}
	return e.call(&sentrypb.Call{Op: &sentrypb.Call_Spawn{Spawn: &sentrypb.Spawn{
		Process: &sentrypb.Start{Argv: sentrypb.BytesList(argv), Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/tmp"), Umask: 022},
		Stdio:   &sentrypb.StdioSet{Id: set, Stdio: stdio},
	}}})
}

// TestSpawn checks a spawned process: a pid in the application's PID
// namespace, no parent there, a session of its own, its own stdio set, a
// SpawnExit when it exits, and signals from outside by pid.
func TestSpawn(t *testing.T) {
	t.Run("before start", func(t *testing.T) {
		e := newEnv(t)
		if r := e.spawn(1, false, busybox, "true"); unix.Errno(r.Errno) != unix.ESRCH {
			t.Fatalf("Spawn before Start: errno %v, want ESRCH", unix.Errno(r.Errno))
		}
	})
	t.Run("bad", func(t *testing.T) {
		e := started(t)
		for _, sp := range []*sentrypb.Spawn{
			{},
			{Process: &sentrypb.Start{Argv: [][]byte{[]byte(busybox)}}},
			{Process: &sentrypb.Start{Argv: [][]byte{[]byte(busybox)}}, Stdio: &sentrypb.StdioSet{Id: 0}},
		} {
			r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Spawn{Spawn: sp}})
			if unix.Errno(r.Errno) != unix.EINVAL {
				t.Errorf("Spawn %v: errno %v, want EINVAL", sp, unix.Errno(r.Errno))
			}
		}
		if r := e.spawn(1, false, "/no/such/file"); unix.Errno(r.Errno) != unix.ENOENT {
			t.Errorf("Spawn of a missing file: errno %v, want ENOENT", unix.Errno(r.Errno))
		}
		// The failed spawn left no process behind.
		if r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Kill{Kill: &sentrypb.Kill{Signo: 0, Pid: 2}}}); unix.Errno(r.Errno) != unix.ESRCH {
			t.Errorf("a failed spawn's pid: errno %v, want ESRCH", unix.Errno(r.Errno))
		}
	})
	t.Run("life", func(t *testing.T) {
		e := started(t)
		r := e.spawn(7, false, busybox, "sh")
		if r.Errno != 0 || r.GetExec() == nil {
			t.Fatalf("Spawn: errno %v, action %v", unix.Errno(r.Errno), r.Action)
		}
		pid := int32(r.Ret)
		if pid <= 1 || r.GetExec().Tid != pid {
			t.Fatalf("spawned pid %d, plan tid %d", pid, r.GetExec().Tid)
		}
		if got := e.ok(pid, unix.SYS_GETPPID); got != 0 {
			t.Errorf("getppid = %d, want 0 (its parent is outside)", got)
		}
		if got := e.ok(pid, unix.SYS_GETSID, 0); got != int64(pid) {
			t.Errorf("getsid = %d, want %d", got, pid)
		}
		// Its cwd is the Spawn's.
		buf := e.mem.zeros(64)
		n := e.ok(pid, unix.SYS_GETCWD, buf, 64)
		if got := string(e.mem.bytes(buf, int(n)-1)); got != "/tmp" {
			t.Errorf("cwd %q, want /tmp", got)
		}
		// Its stdout is set 7, not the client's.
		msg := e.mem.alloc([]byte("hello"))
		e.ok(pid, unix.SYS_WRITE, 1, msg, 5)
		out := e.waitPush(func(p *sentrypb.Push) bool { return p.GetOutput() != nil }).GetOutput()
		if out.StdioSet != 7 || out.Fd != 1 || string(out.Data) != "hello" {
			t.Errorf("output %+v, want set 7 fd 1 hello", out)
		}
		// Its stdin asks set 7.
		// The read stays blocked until the kill below ends the process;
		// whether its answer arrives before the session closes at the
		// test's end is not checked (e.sys would fail the test from
		// this goroutine when it does not).
		readBuf := e.mem.zeros(16)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			e.conn.Call(ctx, &sentrypb.Call{Tid: pid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
				Sysno: unix.SYS_READ, Args: []uint64{0, readBuf, 16, 0, 0, 0}}}})
		}()
		want := e.waitPush(func(p *sentrypb.Push) bool { return p.GetStdinWant() != nil }).GetStdinWant()
		if want.StdioSet != 7 {
			t.Errorf("stdin want of set %d, want 7", want.StdioSet)
		}
		// init sees it and may signal it; a Kill by pid reaches it alone.
		e.ok(1, unix.SYS_KILL, uint64(pid), 0)
		if r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Kill{Kill: &sentrypb.Kill{Signo: int32(unix.SIGKILL), Pid: 1}}}); unix.Errno(r.Errno) != unix.ESRCH {
			t.Errorf("Kill by pid of init: errno %v, want ESRCH (only spawned processes)", unix.Errno(r.Errno))
		}
		if r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Kill{Kill: &sentrypb.Kill{Signo: int32(unix.SIGTERM), Pid: pid}}}); r.Errno != 0 {
			t.Fatalf("Kill by pid: errno %v", unix.Errno(r.Errno))
		}
		ex := e.waitPush(func(p *sentrypb.Push) bool { return p.GetSpawnExit() != nil }).GetSpawnExit()
		if ex.Pid != pid || ex.WaitStatus != int32(unix.SIGTERM) {
			t.Errorf("SpawnExit %+v, want pid %d status %d", ex, pid, unix.SIGTERM)
		}
		// Reaped at once: gone for init too.
		e.fails(unix.ESRCH, 1, unix.SYS_KILL, uint64(pid), 0)
	})
	t.Run("exit status and orphans", func(t *testing.T) {
		e := started(t)
		pid := int32(e.spawn(3, false, busybox, "sh").Ret)
		child := e.fork(pid)
		if r := e.sys(pid, unix.SYS_EXIT_GROUP, 5); r.GetExit() == nil {
			t.Fatalf("exit_group: %v", r)
		}
		ex := e.waitPush(func(p *sentrypb.Push) bool { return p.GetSpawnExit() != nil }).GetSpawnExit()
		if ex.Pid != pid || ex.WaitStatus != 5<<8 {
			t.Errorf("SpawnExit %+v, want pid %d status %#x", ex, pid, 5<<8)
		}
		if got := e.ok(child, unix.SYS_GETPPID); got != 1 {
			t.Errorf("orphan's parent %d, want 1", got)
		}
	})
	t.Run("tty", func(t *testing.T) {
		e := started(t)
		pid := int32(e.spawn(4, true, busybox, "sh").Ret)
		b := e.mem.zeros(4)
		e.ok(pid, unix.SYS_IOCTL, 0, unix.TIOCGPGRP, b)
		if got := int32(binary.LittleEndian.Uint32(e.mem.bytes(b, 4))); got != pid {
			t.Errorf("TIOCGPGRP of the spawned terminal = %d, want %d", got, pid)
		}
		e.ok(pid, unix.SYS_IOCTL, 0, unix.TIOCGSID, b)
		if got := int32(binary.LittleEndian.Uint32(e.mem.bytes(b, 4))); got != pid {
			t.Errorf("TIOCGSID of the spawned terminal = %d, want %d", got, pid)
		}
		// init's stdio is no terminal; the spawned one's is its own.
		e.fails(unix.ENOTTY, 1, unix.SYS_IOCTL, 0, unix.TIOCGPGRP, b)
		ws := []byte{24, 0, 80, 0, 0, 0, 0, 0}
		if r := e.call(&sentrypb.Call{Op: &sentrypb.Call_TtyResize{TtyResize: &sentrypb.TtyResize{Winsize: ws, StdioSet: 4}}}); r.Errno != 0 {
			t.Fatalf("TtyResize of set 4: errno %v", unix.Errno(r.Errno))
		}
		e.ok(pid, unix.SYS_IOCTL, 0, unix.TIOCGWINSZ, b)
		if got := e.mem.bytes(b, 4); got[0] != 24 || got[2] != 80 {
			t.Errorf("winsize %v after resize", got)
		}
		if r := e.call(&sentrypb.Call{Op: &sentrypb.Call_TtyResize{TtyResize: &sentrypb.TtyResize{Winsize: ws, StdioSet: 99}}}); unix.Errno(r.Errno) != unix.ENOTTY {
			t.Errorf("TtyResize of an unknown set: errno %v, want ENOTTY", unix.Errno(r.Errno))
		}
	})
	t.Run("init exit ends it", func(t *testing.T) {
		e := started(t)
		pid := int32(e.spawn(5, false, busybox, "sh").Ret)
		e.sys(1, unix.SYS_EXIT_GROUP, 0)
		if r := e.sys(pid, unix.SYS_GETPID); r.GetExit() == nil && unix.Errno(r.Errno) != unix.ESRCH {
			t.Errorf("spawned process survived init: %v", r)
		}
		if r := e.spawn(6, false, busybox, "true"); unix.Errno(r.Errno) != unix.ESRCH {
			t.Errorf("Spawn after init's exit: errno %v, want ESRCH", unix.Errno(r.Errno))
		}
	})
}

// TestRootProcessOOMScoreAdj: a Start's or Spawn's oom_score_adj (OCI
// process.oomScoreAdj) is the new process's, and its minimum too, as
// runc's privileged write of it before the exec leaves them; one a write
// could not set fails the call (EINVAL) and makes no process.
func TestRootProcessOOMScoreAdj(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spawn bool
		adj   int32
		want  unix.Errno
	}{
		{"start unset", false, 0, 0},
		{"start -1000", false, -1000, 0},
		{"start 1000", false, 1000, 0},
		{"start 1001", false, 1001, unix.EINVAL},
		{"start -1001", false, -1001, unix.EINVAL},
		{"spawn -300", true, -300, 0},
		{"spawn 1001", true, 1001, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			st := &sentrypb.Start{Argv: sentrypb.BytesList([]string{busybox, "sh"}), Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Umask: 022, OomScoreAdj: tc.adj}
			var r *sentrypb.Reply
			if tc.spawn {
				e = started(t)
				r = e.call(&sentrypb.Call{Op: &sentrypb.Call_Spawn{Spawn: &sentrypb.Spawn{Process: st,
					Stdio: &sentrypb.StdioSet{Id: 1, Stdio: []*sentrypb.StdioInfo{{Fd: 0}, {Fd: 1}, {Fd: 2}}}}}})
			} else {
				e = newEnv(t)
				r = e.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: st}})
			}
			if unix.Errno(r.Errno) != tc.want {
				t.Fatalf("errno %v, want %v", unix.Errno(r.Errno), tc.want)
			}
			if tc.want != 0 {
				if r.GetExec() != nil {
					t.Error("a refused call has an exec plan")
				}
				return
			}
			pid := int32(r.Ret)
			ps := e.procRecord(pid)
			if ps.GetOomScoreAdj() != tc.adj || ps.GetOomScoreAdjMin() != tc.adj {
				t.Errorf("process %d's record: oom_score_adj %d, min %d; want both %d", pid, ps.GetOomScoreAdj(), ps.GetOomScoreAdjMin(), tc.adj)
			}
			fd := uint64(e.ok(pid, unix.SYS_OPENAT, uint64(atFDCWD64), e.mem.str("/proc/self/oom_score_adj"), unix.O_RDONLY, 0))
			buf := e.mem.zeros(16)
			n := e.ok(pid, unix.SYS_READ, fd, buf, 16)
			if got, want := string(e.mem.bytes(buf, int(n))), fmt.Sprintf("%d\n", tc.adj); got != want {
				t.Errorf("/proc/self/oom_score_adj of process %d: %q, want %q", pid, got, want)
			}
		})
	}
}
