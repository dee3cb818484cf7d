package server

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

func (e *env) fork(tid int32) int32 {
	e.t.Helper()
	r := e.sys(tid, unix.SYS_CLONE, uint64(unix.SIGCHLD))
	if r.Errno != 0 || r.GetClone() == nil || int64(r.GetClone().ChildTid) != r.Ret {
		e.t.Fatalf("fork: %v", r)
	}
	return r.GetClone().ChildTid
}

// wait4 waits for pid and returns (pid, status).
func (e *env) wait4(tid int32, pid int64, options uint64) (int64, uint32) {
	e.t.Helper()
	st := e.mem.zeros(4)
	got := e.ok(tid, unix.SYS_WAIT4, uint64(pid), st, options, 0)
	return got, e.mem.u32(st)
}

// TestWaitAfterChildFilesClosed: a child holds a pipe's last read end
// and exits; once its parent's wait4 has reaped it, the parent's write
// to the pipe fails EPIPE, as in Linux (which closes the files before
// it notifies the parent), however late the exiting thread closes them
// after releasing the kernel lock (widened here by a hook).
func TestWaitAfterChildFilesClosed(t *testing.T) {
	kernel.SetTestHookFilesClose(func() { time.Sleep(100 * time.Millisecond) })
	defer kernel.SetTestHookFilesClose(nil)
	e := started(t)
	m := e.mem
	sa := m.alloc(ksignal.Action{Handler: ksignal.SigIgn}.Bytes())
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGPIPE), sa, 0, 8)
	fds := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd, wfd := uint64(m.u32(fds)), uint64(m.u32(fds+4))
	child := e.fork(1)
	e.ok(1, unix.SYS_CLOSE, rfd)
	buf := m.alloc([]byte("a"))
	e.ok(1, unix.SYS_WRITE, wfd, buf, 1)
	// The exit's reply waits for the hook: on its own goroutine.
	exited := make(chan *sentrypb.Reply, 1)
	go func() { exited <- e.sys(child, unix.SYS_EXIT_GROUP, 0) }()
	if pid, _ := e.wait4(1, int64(child), 0); pid != int64(child) {
		t.Fatalf("wait4 = %d, want %d", pid, child)
	}
	e.fails(unix.EPIPE, 1, unix.SYS_WRITE, wfd, buf, 1)
	if ex := (<-exited).GetExit(); ex == nil {
		t.Errorf("the child's exit_group ended no thread")
	}
}

func TestPipeForkWait(t *testing.T) {
	e := started(t)
	m := e.mem
	fds := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, unix.O_CLOEXEC)
	rfd, wfd := uint64(m.u32(fds)), uint64(m.u32(fds+4))
	child := e.fork(1)
	if child != 2 {
		t.Errorf("child pid %d, want 2", child)
	}
	if ppid := e.ok(child, unix.SYS_GETPPID); ppid != 1 {
		t.Errorf("child's ppid %d", ppid)
	}
	e.ok(1, unix.SYS_CLOSE, wfd)
	if pid, _ := e.wait4(1, -1, unix.WNOHANG); pid != 0 {
		t.Fatalf("WNOHANG with a running child returned %d", pid)
	}
	buf := m.zeros(16)
	done := make(chan *sentrypb.Reply)
	go func() { done <- e.sys(1, unix.SYS_READ, rfd, buf, 16) }()
	select {
	case r := <-done:
		t.Fatalf("read returned before the write: %v", r)
	case <-time.After(50 * time.Millisecond):
	}
	e.ok(child, unix.SYS_WRITE, wfd, m.alloc([]byte("from child")), 10)
	r := <-done
	if r.Errno != 0 || r.Ret != 10 || string(m.bytes(buf, 10)) != "from child" {
		t.Fatalf("parent read: %v %q", r, m.bytes(buf, 10))
	}
	// A blocked wait4 completes when the child exits.
	wdone := make(chan [2]int64)
	go func() {
		pid, st := e.wait4(1, int64(child), 0)
		wdone <- [2]int64{pid, int64(st)}
	}()
	time.Sleep(20 * time.Millisecond)
	ex := e.sys(child, unix.SYS_EXIT_GROUP, 7).GetExit()
	if ex == nil || ex.AppExit || ex.WaitStatus != 7<<8 {
		t.Fatalf("child exit action %v", ex)
	}
	got := <-wdone
	if got[0] != int64(child) || got[1] != 7<<8 {
		t.Errorf("wait4 = pid %d status %#x, want %d %#x", got[0], got[1], child, 7<<8)
	}
	// EOF now that the only writer is gone.
	if n := e.ok(1, unix.SYS_READ, rfd, buf, 16); n != 0 {
		t.Errorf("read after writer exit: %d", n)
	}
	e.fails(unix.ECHILD, 1, unix.SYS_WAIT4, ^uint64(0), 0, 0, 0)
	// A reader-less pipe: EPIPE (the caller ignores SIGPIPE).
	sa := m.alloc(ksignal.Action{Handler: ksignal.SigIgn}.Bytes())
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGPIPE), sa, 0, 8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	e.ok(1, unix.SYS_CLOSE, uint64(m.u32(fds)))
	e.fails(unix.EPIPE, 1, unix.SYS_WRITE, uint64(m.u32(fds+4)), buf, 1)
	// O_NONBLOCK read of an empty pipe.
	e.ok(1, unix.SYS_PIPE2, fds, unix.O_NONBLOCK)
	e.fails(unix.EAGAIN, 1, unix.SYS_READ, uint64(m.u32(fds)), buf, 1)
	np := m.zeros(4)
	e.ok(1, unix.SYS_IOCTL, uint64(m.u32(fds)), linux.FIONREAD, np)
	if m.u32(np) != 0 {
		t.Errorf("FIONREAD %d", m.u32(np))
	}
}

func TestWaitStatusAndKill(t *testing.T) {
	e := started(t)
	for _, tc := range []struct {
		name string
		end  func(child int32)
		want uint32
	}{
		{"exit 0", func(c int32) { e.sys(c, unix.SYS_EXIT_GROUP, 0) }, 0},
		{"exit 255", func(c int32) { e.sys(c, unix.SYS_EXIT_GROUP, 255) }, 255 << 8},
		{"exit 256 truncates", func(c int32) { e.sys(c, unix.SYS_EXIT_GROUP, 256) }, 0},
		{"last thread exit", func(c int32) { e.sys(c, unix.SYS_EXIT, 4) }, 4 << 8},
		{"SIGKILL", func(c int32) { e.ok(1, unix.SYS_KILL, uint64(c), 9) }, 9},
		{"SIGTERM", func(c int32) { e.ok(1, unix.SYS_KILL, uint64(c), 15) }, 15},
		{"SIGSEGV self", func(c int32) { e.sys(c, unix.SYS_TGKILL, uint64(c), uint64(c), 11) }, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			child := e.fork(1)
			tc.end(child)
			pid, st := e.wait4(1, int64(child), 0)
			if pid != int64(child) || st != tc.want {
				t.Errorf("wait4 = %d status %#x, want %d %#x", pid, st, child, tc.want)
			}
		})
	}
}

func TestKillIdleThreadGetsTaskExit(t *testing.T) {
	e := started(t)
	child := e.fork(1)
	thr := e.sys(child, unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_SIGHAND|unix.CLONE_THREAD|unix.CLONE_FS|unix.CLONE_FILES).GetClone().ChildTid
	if pid := e.ok(thr, unix.SYS_GETPID); pid != int64(child) {
		t.Errorf("thread getpid %d, want %d", pid, child)
	}
	if tid := e.ok(thr, unix.SYS_GETTID); tid != int64(thr) {
		t.Errorf("gettid %d", tid)
	}
	e.ok(1, unix.SYS_KILL, uint64(child), 15)
	seen := map[int32]int32{}
	for len(seen) < 2 {
		p := e.waitPush(func(p *sentrypb.Push) bool { return p.GetTaskExit() != nil })
		seen[p.GetTaskExit().Tid] = p.GetTaskExit().WaitStatus
	}
	if seen[child] != 15 || seen[thr] != 15 {
		t.Errorf("TaskExit pushes %v", seen)
	}
	// A call from a killed thread is answered with its exit.
	if r := e.sys(thr, unix.SYS_GETPID); r.GetExit() == nil || r.GetExit().WaitStatus != 15 {
		t.Errorf("call of killed thread: %v", r)
	}
	if pid, st := e.wait4(1, -1, 0); pid != int64(child) || st != 15 {
		t.Errorf("wait4 %d %#x", pid, st)
	}
}

func TestBlockedCallKilledAndInterrupted(t *testing.T) {
	e := started(t)
	m := e.mem
	fds := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd := uint64(m.u32(fds))
	child := e.fork(1)
	buf := m.zeros(8)
	done := make(chan *sentrypb.Reply)
	go func() { done <- e.sys(child, unix.SYS_READ, rfd, buf, 8) }()
	time.Sleep(20 * time.Millisecond)
	e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Interrupt{Interrupt: &sentrypb.Interrupt{Tid: child}}})
	if r := <-done; r.Errno != int32(syserr.RestartSys) {
		t.Fatalf("interrupted read: %v", r)
	}
	go func() { done <- e.sys(child, unix.SYS_READ, rfd, buf, 8) }()
	time.Sleep(20 * time.Millisecond)
	e.ok(1, unix.SYS_KILL, uint64(child), 9)
	r := <-done
	if r.GetExit() == nil || !r.GetExit().Group || r.GetExit().WaitStatus != 9 {
		t.Fatalf("read of killed thread: %v", r)
	}
}

func TestCaughtSignalAndSIGCHLD(t *testing.T) {
	e := started(t)
	m := e.mem
	act := ksignal.Action{Handler: 0x401000, Flags: ksignal.SASiginfo | ksignal.SARestorer | ksignal.SAResetHand, Restorer: 0x402000, Mask: 1 << 1}
	sa := m.alloc(act.Bytes())
	old := m.zeros(32)
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), sa, old, 8)
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), 0, old, 8)
	if ksignal.ParseAction(m.bytes(old, 32)) != act {
		t.Errorf("old action %+v", ksignal.ParseAction(m.bytes(old, 32)))
	}
	e.fails(unix.EINVAL, 1, unix.SYS_RT_SIGACTION, uint64(unix.SIGKILL), sa, 0, 8)
	e.fails(unix.EINVAL, 1, unix.SYS_RT_SIGACTION, 65, sa, 0, 8)
	e.fails(unix.EINVAL, 1, unix.SYS_RT_SIGACTION, 10, sa, 0, 4)
	e.ok(1, unix.SYS_KILL, 1, uint64(unix.SIGUSR1))
	p := e.waitPush(func(p *sentrypb.Push) bool { return p.GetSignal() != nil }).GetSignal()
	if p.Tid != 1 || p.Signo != 10 || len(p.Siginfo) != 128 || ksignal.ParseAction(p.Sigaction) != act {
		t.Errorf("signal push %+v", p)
	}
	if binary.LittleEndian.Uint32(p.Siginfo) != 10 || binary.LittleEndian.Uint32(p.Siginfo[16:]) != 1 {
		t.Errorf("siginfo %x", p.Siginfo[:24])
	}
	// SA_RESETHAND reset its handler, only (Linux keeps the flags, so
	// SA_SIGINFO: LTP sigaction01); init ignores SIG_DFL signals from
	// the app.
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), 0, old, 8)
	reset := act
	reset.Handler = ksignal.SigDfl
	if got := ksignal.ParseAction(m.bytes(old, 32)); got != reset {
		t.Errorf("after SA_RESETHAND: %+v, want %+v", got, reset)
	}
	e.ok(1, unix.SYS_KILL, 1, 15)
	if pid := e.ok(1, unix.SYS_GETPID); pid != 1 {
		t.Fatalf("init died of SIGTERM")
	}
	// SIGCHLD handler gets a push on child exit.
	chld := m.alloc(ksignal.Action{Handler: 0x401000, Flags: ksignal.SASiginfo}.Bytes())
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), chld, 0, 8)
	child := e.fork(1)
	e.sys(child, unix.SYS_EXIT_GROUP, 3)
	sp := e.waitPush(func(p *sentrypb.Push) bool { return p.GetSignal() != nil && p.GetSignal().Signo == int32(unix.SIGCHLD) }).GetSignal()
	if code := int32(binary.LittleEndian.Uint32(sp.Siginfo[8:])); code != ksignal.CLDExited || binary.LittleEndian.Uint32(sp.Siginfo[16:]) != uint32(child) || binary.LittleEndian.Uint32(sp.Siginfo[24:]) != 3 {
		t.Errorf("SIGCHLD siginfo %x", sp.Siginfo[:28])
	}
	// waitid with WNOWAIT leaves it; then reaps.
	info := m.zeros(128)
	e.ok(1, unix.SYS_WAITID, unix.P_PID, uint64(child), info, unix.WEXITED|unix.WNOWAIT, 0)
	if binary.LittleEndian.Uint32(m.bytes(info+16, 4)) != uint32(child) {
		t.Errorf("waitid pid %d", binary.LittleEndian.Uint32(m.bytes(info+16, 4)))
	}
	e.ok(1, unix.SYS_WAITID, unix.P_ALL, 0, info, unix.WEXITED, 0)
	e.fails(unix.ECHILD, 1, unix.SYS_WAITID, unix.P_ALL, 0, info, unix.WEXITED, 0)
	e.fails(unix.EINVAL, 1, unix.SYS_WAITID, unix.P_ALL, 0, info, 0, 0)
	// SIGCHLD ignored: children are reaped at once.
	ign := m.alloc(ksignal.Action{Handler: ksignal.SigIgn}.Bytes())
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), ign, 0, 8)
	child = e.fork(1)
	e.sys(child, unix.SYS_EXIT_GROUP, 0)
	e.fails(unix.ECHILD, 1, unix.SYS_WAIT4, ^uint64(0), 0, 0, 0)
}

func TestOrphansAndInitExit(t *testing.T) {
	e := started(t)
	child := e.fork(1)
	grandchild := e.fork(child)
	e.sys(child, unix.SYS_EXIT_GROUP, 0)
	if ppid := e.ok(grandchild, unix.SYS_GETPPID); ppid != 1 {
		t.Errorf("orphan's ppid %d, want 1", ppid)
	}
	e.wait4(1, int64(child), 0)
	// Process groups and sessions.
	e.ok(grandchild, unix.SYS_SETPGID, 0, 0)
	if pg := e.ok(1, unix.SYS_GETPGID, uint64(grandchild)); pg != int64(grandchild) {
		t.Errorf("pgid %d", pg)
	}
	e.fails(unix.EPERM, 1, unix.SYS_SETSID)
	e.fails(unix.EPERM, grandchild, unix.SYS_SETSID) // a group leader
	g2 := e.fork(grandchild)
	if sid := e.ok(g2, unix.SYS_SETSID); sid != int64(g2) {
		t.Errorf("setsid %d", sid)
	}
	if sid := e.ok(g2, unix.SYS_GETSID, 0); sid != int64(g2) {
		t.Errorf("getsid %d", sid)
	}
	// kill(-pgid) reaches the group.
	e.ok(1, unix.SYS_KILL, uint64(-int64(grandchild)), 15)
	if pid, st := e.wait4(1, int64(grandchild), 0); pid != int64(grandchild) || st != 15 {
		t.Errorf("group kill: %d %#x", pid, st)
	}
	// init exits: the app is over, every other thread ends with its status.
	r := e.sys(1, unix.SYS_EXIT_GROUP, 5)
	if ex := r.GetExit(); ex == nil || !ex.AppExit || ex.WaitStatus != 5<<8 {
		t.Fatalf("init exit: %v", r)
	}
	te := e.waitPush(func(p *sentrypb.Push) bool { return p.GetTaskExit() != nil && p.GetTaskExit().Tid == g2 }).GetTaskExit()
	if !te.AppExit || te.WaitStatus != 5<<8 {
		t.Errorf("TaskExit %v", te)
	}
}

func TestExecClosesCloexecAndResetsHandlers(t *testing.T) {
	e := started(t)
	m := e.mem
	fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/dev/null"), unix.O_RDONLY|unix.O_CLOEXEC, 0))
	keep := uint64(e.ok(1, unix.SYS_OPEN, m.str("/dev/null"), unix.O_RDONLY, 0))
	e.ok(1, unix.SYS_RT_SIGACTION, 10, m.alloc(ksignal.Action{Handler: 0x1234}.Bytes()), 0, 8)
	e.ok(1, unix.SYS_RT_SIGACTION, 12, m.alloc(ksignal.Action{Handler: ksignal.SigIgn}.Bytes()), 0, 8)
	argv := m.alloc(ptrs(m.str("busybox"), 0))
	r := e.sys(1, unix.SYS_EXECVE, m.str("/bin/busybox"), argv, 0)
	if r.GetExec() == nil {
		t.Fatalf("execve: %v", r)
	}
	e.fails(unix.EBADF, 1, unix.SYS_FSTAT, fd, m.zeros(144))
	e.ok(1, unix.SYS_FSTAT, keep, m.zeros(144))
	old := m.zeros(32)
	e.ok(1, unix.SYS_RT_SIGACTION, 10, 0, old, 8)
	if ksignal.ParseAction(m.bytes(old, 32)).Handler != ksignal.SigDfl {
		t.Errorf("caught handler survived exec")
	}
	e.ok(1, unix.SYS_RT_SIGACTION, 12, 0, old, 8)
	if ksignal.ParseAction(m.bytes(old, 32)).Handler != ksignal.SigIgn {
		t.Errorf("ignored handler reset by exec")
	}
	e.fails(unix.EACCES, 1, unix.SYS_EXECVE, m.str("/tmp"), argv, 0)
	e.fails(unix.ENOENT, 1, unix.SYS_EXECVE, m.str("/nope"), argv, 0)
	// Exec from a non-leader thread takes the PID as TID.
	thr := e.sys(1, unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_SIGHAND|unix.CLONE_THREAD).GetClone().ChildTid
	r = e.sys(thr, unix.SYS_EXECVE, m.str("/bin/busybox"), argv, 0)
	if r.GetExec() == nil || r.GetExec().Tid != 1 {
		t.Fatalf("exec from thread: %v", r)
	}
	if pid := e.ok(1, unix.SYS_GETTID); pid != 1 {
		t.Errorf("gettid after exec %d", pid)
	}
	e.fails(unix.ESRCH, thr, unix.SYS_GETTID)
}

func TestMmapPlan(t *testing.T) {
	e := started(t)
	m := e.mem
	fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/bin/busybox"), unix.O_RDONLY, 0))
	r := e.sys(1, unix.SYS_MMAP, 0, 8192, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0)
	if r.Errno != 0 || r.GetMmap() == nil || r.GetMmap().FileSize == 0 || r.GetMmap().Writable {
		t.Fatalf("mmap: %v", r)
	}
	e.fails(unix.EACCES, 1, unix.SYS_MMAP, 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, fd, 0)
	e.fails(unix.EINVAL, 1, unix.SYS_MMAP, 0, 8192, unix.PROT_READ, unix.MAP_PRIVATE, fd, 1)
	e.fails(unix.ENODEV, 1, unix.SYS_MMAP, 0, 8192, unix.PROT_READ, unix.MAP_PRIVATE, 1, 0)
	e.fails(unix.EBADF, 1, unix.SYS_MMAP, 0, 8192, unix.PROT_READ, unix.MAP_PRIVATE, 77, 0)
	// The fd is looked up first: a bad fd with a zero length is EBADF (LTP mmap08).
	e.fails(unix.EBADF, 1, unix.SYS_MMAP, 0, 0, unix.PROT_WRITE, unix.MAP_SHARED, 0xffffffff, 0)
	e.fails(unix.EINVAL, 1, unix.SYS_MMAP, 0, 0, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0)
	rw := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/w"), unix.O_RDWR|unix.O_CREAT, 0644))
	if w := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, rw, 0); w.Errno != 0 || !w.GetMmap().GetWritable() {
		t.Fatalf("shared writable mmap: %v", w)
	}
	e.call(&sentrypb.Call{Op: &sentrypb.Call_FileRelease{FileRelease: &sentrypb.FileRelease{FileIds: []uint64{r.GetMmap().FileId}}}})
	// A released file mapped again, unchanged, gets its old id (the
	// client kept its pages); a released file that changed gets a new one.
	bb := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0).GetMmap().GetFileId()
	e.call(&sentrypb.Call{Op: &sentrypb.Call_FileRelease{FileRelease: &sentrypb.FileRelease{FileIds: []uint64{bb}}}})
	if again := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0).GetMmap().GetFileId(); again != bb {
		t.Errorf("busybox mapped again after release: id %d, want %d", again, bb)
	}
	tmp := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/rel"), unix.O_RDWR|unix.O_CREAT, 0644))
	e.ok(1, unix.SYS_WRITE, tmp, m.alloc([]byte("v1")), 2)
	relID := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, tmp, 0).GetMmap().GetFileId()
	e.call(&sentrypb.Call{Op: &sentrypb.Call_FileRelease{FileRelease: &sentrypb.FileRelease{FileIds: []uint64{relID}}}})
	e.ok(1, unix.SYS_WRITE, tmp, m.alloc([]byte("v2")), 2)
	if again := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, tmp, 0).GetMmap().GetFileId(); again == relID {
		t.Errorf("a file changed after its release got its old id %d", again)
	}
	// /dev/zero maps anonymous memory.
	zero := uint64(e.ok(1, unix.SYS_OPEN, m.str("/dev/zero"), unix.O_RDWR, 0))
	if z := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, zero, 0).GetMmap(); !z.GetAnonymous() || z.GetFileId() != 0 {
		t.Errorf("mmap of /dev/zero: %v, want an anonymous plan", z)
	}
	zeroRO := uint64(e.ok(1, unix.SYS_OPEN, m.str("/dev/zero"), unix.O_RDONLY, 0))
	e.fails(unix.EACCES, 1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, zeroRO, 0)
	null := uint64(e.ok(1, unix.SYS_OPEN, m.str("/dev/null"), unix.O_RDWR, 0))
	e.fails(unix.ENODEV, 1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, null, 0)
}

// TestPageWrite: a shared writable mapping's pages are written back with
// PageWrite as a pwrite would be (a WriteState naming the mapping,
// clipped to the file's size), and calls that change a mapped file tell
// the client which mapping and range in Reply.mapped.
func TestPageWrite(t *testing.T) {
	e := started(t)
	m := e.mem
	fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/pw"), unix.O_RDWR|unix.O_CREAT, 0644))
	e.ok(1, unix.SYS_FTRUNCATE, fd, 8192)
	plan := e.sys(1, unix.SYS_MMAP, 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, fd, 0).GetMmap()
	if plan == nil || !plan.Writable || plan.FileSize != 8192 {
		t.Fatalf("mmap plan %v", plan)
	}
	id := plan.FileId
	pageWrite := func(id, off uint64, data string) *sentrypb.Reply {
		return e.call(&sentrypb.Call{Op: &sentrypb.Call_PageWrite{PageWrite: &sentrypb.PageWrite{FileId: id, Offset: off, Data: []byte(data)}}})
	}
	r := pageWrite(id, 4096, "stored")
	if r.Errno != 0 || r.Ret != 6 {
		t.Fatalf("PageWrite: %v", r)
	}
	var ws *sentrypb.WriteState
	for _, rec := range r.State {
		if w := rec.GetWrite(); w != nil {
			ws = w
		}
	}
	if ws == nil || ws.MappedFile != id || ws.Offset != 4096 || ws.Length != 6 || ws.Seq != r.Seq {
		t.Errorf("PageWrite's WriteState %v, want mapped_file %d at 4096, 6 bytes", ws, id)
	}
	if len(r.Mapped) != 0 {
		t.Errorf("PageWrite told its own mapping of the change: %v", r.Mapped)
	}
	buf := m.zeros(8)
	e.ok(1, unix.SYS_PREAD64, fd, buf, 6, 4096)
	if got := string(m.bytes(buf, 6)); got != "stored" {
		t.Errorf("pread after PageWrite: %q", got)
	}
	// Stores beyond the end of the file are not written back.
	if r := pageWrite(id, 8190, "abcd"); r.Errno != 0 || r.Ret != 2 {
		t.Errorf("PageWrite across the end: %v, want 2 bytes", r)
	}
	if r := pageWrite(id, 9000, "x"); r.Errno != 0 || r.Ret != 0 {
		t.Errorf("PageWrite beyond the end: %v, want 0 bytes", r)
	}

	// A pwrite and a truncate of the mapped file name the mapping.
	r = e.sys(1, unix.SYS_PWRITE64, fd, m.alloc([]byte("hello")), 5, 100)
	if r.Errno != 0 || len(r.Mapped) != 1 || r.Mapped[0].FileId != id || r.Mapped[0].Offset != 100 || r.Mapped[0].Length != 5 || r.Mapped[0].Size != 8192 {
		t.Errorf("pwrite of a mapped file: mapped %v", r.Mapped)
	}
	r = e.sys(1, unix.SYS_FTRUNCATE, fd, 100)
	if r.Errno != 0 || len(r.Mapped) != 1 || r.Mapped[0].Size != 100 || r.Mapped[0].Length != 0 {
		t.Errorf("ftruncate of a mapped file: mapped %v", r.Mapped)
	}
	// The mapping follows the file: mapping it again shares the id.
	if again := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_SHARED, fd, 0).GetMmap(); again.GetFileId() != id || again.GetFileSize() != 100 {
		t.Errorf("mmap after changes: %v, want id %d size 100", again, id)
	}
	// A file nobody maps: no change reported.
	other := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/other"), unix.O_RDWR|unix.O_CREAT, 0644))
	if r := e.sys(1, unix.SYS_WRITE, other, m.alloc([]byte("x")), 1); len(r.Mapped) != 0 {
		t.Errorf("write of an unmapped file: mapped %v", r.Mapped)
	}

	// Only a shared mapping of a writable fd may be written back.
	ro := uint64(e.ok(1, unix.SYS_OPEN, m.str("/bin/busybox"), unix.O_RDONLY, 0))
	roID := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_SHARED, ro, 0).GetMmap().GetFileId()
	if r := pageWrite(roID, 0, "x"); r.Errno != int32(unix.EACCES) {
		t.Errorf("PageWrite of a read-only mapping: %v, want EACCES", r)
	}
	if r := pageWrite(9999, 0, "x"); r.Errno != int32(unix.EBADF) {
		t.Errorf("PageWrite of an unknown id: %v, want EBADF", r)
	}
	if r := pageWrite(id, 0, strings.Repeat("x", kernel.MaxPageWrite+1)); r.Errno != int32(unix.EINVAL) {
		t.Errorf("oversized PageWrite: errno %v, want EINVAL", unix.Errno(r.Errno))
	}
}

func TestPoll(t *testing.T) {
	e := started(t)
	m := e.mem
	fds := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd, wfd := m.u32(fds), m.u32(fds+4)
	pfd := make([]byte, 24)
	binary.LittleEndian.PutUint32(pfd[0:], rfd)
	binary.LittleEndian.PutUint16(pfd[4:], linux.POLLIN)
	binary.LittleEndian.PutUint32(pfd[8:], wfd)
	binary.LittleEndian.PutUint16(pfd[12:], linux.POLLOUT)
	binary.LittleEndian.PutUint32(pfd[16:], 99)
	binary.LittleEndian.PutUint16(pfd[20:], linux.POLLIN)
	a := m.alloc(pfd)
	if n := e.ok(1, unix.SYS_POLL, a, 3, 0); n != 2 {
		t.Errorf("poll = %d, want 2 (write end ready, bad fd)", n)
	}
	if rev := binary.LittleEndian.Uint16(m.bytes(a+6, 2)); rev != 0 {
		t.Errorf("read end revents %#x", rev)
	}
	if rev := binary.LittleEndian.Uint16(m.bytes(a+22, 2)); rev != linux.POLLNVAL {
		t.Errorf("bad fd revents %#x", rev)
	}
	// A blocking poll on the read end wakes on a write.
	one := m.alloc(pfd[:8])
	done := make(chan *sentrypb.Reply)
	child := e.fork(1)
	go func() { done <- e.sys(1, unix.SYS_POLL, one, 1, 5000) }()
	time.Sleep(20 * time.Millisecond)
	e.ok(child, unix.SYS_WRITE, uint64(wfd), m.alloc([]byte("x")), 1)
	if r := <-done; r.Ret != 1 {
		t.Errorf("poll after write: %v", r)
	}
	// Timeout.
	e.ok(1, unix.SYS_READ, uint64(rfd), m.zeros(1), 1)
	start := time.Now()
	if n := e.ok(1, unix.SYS_POLL, one, 1, 30); n != 0 || time.Since(start) < 25*time.Millisecond {
		t.Errorf("poll timeout: %d after %v", n, time.Since(start))
	}
	// select on the write end and a regular file.
	f := e.ok(1, unix.SYS_OPEN, m.str("/bin/busybox"), unix.O_RDONLY, 0)
	set := make([]byte, 8)
	set[0] = 1<<uint(wfd) | 1<<uint(f)
	ws := m.alloc(set)
	rs := m.alloc(set)
	tv := m.zeros(16)
	if n := e.ok(1, unix.SYS_SELECT, uint64(f+1), rs, ws, 0, tv); n != 3 {
		t.Errorf("select = %d, want 3", n)
	}
	if got := m.bytes(rs, 1)[0]; got != 1<<uint(f) {
		t.Errorf("read set %#x", got)
	}
}

func TestUnknownSyscallENOSYS(t *testing.T) {
	e := started(t)
	for _, sysno := range []uintptr{9999, unix.SYS_IO_URING_SETUP, unix.SYS_BPF} {
		e.fails(unix.ENOSYS, 1, sysno)
		e.fails(unix.ENOSYS, 1, sysno)
	}
}

// TestFaultKillsEvenInit checks force_sig semantics: a synchronous fault
// with no handler kills the process, the application's first one included,
// while a caught, unblocked fault is pushed to the thread.
func TestFaultKillsEvenInit(t *testing.T) {
	e := started(t)
	child := e.fork(1)
	fault := func(tid int32, blocked bool) *sentrypb.Reply {
		return e.call(&sentrypb.Call{Tid: tid, Op: &sentrypb.Call_Fault{Fault: &sentrypb.Fault{Signo: 11, Siginfo: make([]byte, 128), Blocked: blocked}}})
	}
	if r := fault(child, false); r.GetExit() == nil || r.GetExit().WaitStatus != 11 {
		t.Fatalf("fault reply = %v, want exit with status 11", r)
	}
	if pid, st := e.wait4(1, int64(child), 0); pid != int64(child) || st != 11 {
		t.Errorf("wait4 = %d %#x", pid, st)
	}
	r := fault(1, false)
	if ex := r.GetExit(); ex == nil || !ex.AppExit || ex.WaitStatus != 11 {
		t.Errorf("init fault reply = %v, want app exit with status 11", r)
	}
}

// TestInlineCallWaitsForQueuedCalls: a call the receiving goroutine may
// run itself (getppid) still runs after the thread's earlier calls, even
// when an earlier one blocks; while the thread is idle it runs at once.
func TestInlineCallWaitsForQueuedCalls(t *testing.T) {
	if !inlineSyscalls[unix.SYS_GETPPID] {
		t.Fatal("getppid is not run inline; pick another call")
	}
	e := started(t)
	m := e.mem
	fds := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd := uint64(m.u32(fds))
	child := e.fork(1)
	buf := m.zeros(8)
	syscall := func(tid int32, sysno uintptr, args ...uint64) *sentrypb.Call {
		var a [6]uint64
		copy(a[:], args)
		return &sentrypb.Call{Tid: tid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: int32(sysno), Args: a[:]}}}
	}
	read, err := e.conn.Go(syscall(child, unix.SYS_READ, rfd, buf, 8))
	if err != nil {
		t.Fatal(err)
	}
	ppid, err := e.conn.Go(syscall(child, unix.SYS_GETPPID))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ppid:
		t.Fatalf("getppid answered before the blocked read queued ahead of it: %v", r)
	case r := <-read:
		t.Fatalf("read of an empty pipe returned: %v", r)
	case <-time.After(50 * time.Millisecond):
	}
	// Another thread's calls are not held up, inline or not.
	if got := e.ok(1, unix.SYS_GETPPID); got != 0 {
		t.Errorf("getppid of PID 1 = %d", got)
	}
	e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Interrupt{Interrupt: &sentrypb.Interrupt{Tid: child}}})
	if r := <-read; r.Errno != int32(syserr.RestartSys) {
		t.Fatalf("interrupted read: %v", r)
	}
	if r := <-ppid; r.Errno != 0 || r.Ret != 1 {
		t.Fatalf("child's getppid after the read: %v, want 1", r)
	}
}

// TestFatalSignalPushedToClient: with FeatureFatalSignals a signal whose
// default action ends the process goes to the client, which keeps it
// pending while blocked (the masks live there), and the process ends only
// when the client sends it back as a Fault; a client without the feature
// has the process ended at once (TestWaitStatusAndKill).
func TestFatalSignalPushedToClient(t *testing.T) {
	e := newEnvFeatures(t, nil, nil, sentrypb.FeatureFatalSignals)
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	for _, tc := range []struct {
		name     string
		kill     func(child int32)
		toThread bool
	}{
		{"kill", func(child int32) { e.ok(1, unix.SYS_KILL, uint64(child), 15) }, false},
		{"tgkill", func(child int32) { e.ok(1, unix.SYS_TGKILL, uint64(child), uint64(child), 15) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			child := e.fork(1)
			tc.kill(child)
			p := e.waitPush(func(p *sentrypb.Push) bool {
				return p.GetSignal().GetSigno() == 15 || p.GetTaskExit() != nil
			})
			sp := p.GetSignal()
			if sp == nil || sp.Tid != child || sp.Signo != 15 || sp.ProcessDirected == tc.toThread {
				t.Fatalf("push %v, want SIGTERM to %d pushed (process-directed %v)", p, child, !tc.toThread)
			}
			if pid, _ := e.wait4(1, int64(child), unix.WNOHANG); pid != 0 {
				t.Fatalf("wait4 WNOHANG = %d before the client took the signal, want 0", pid)
			}
			e.call(&sentrypb.Call{Tid: child, Op: &sentrypb.Call_Fault{Fault: &sentrypb.Fault{Signo: 15, Siginfo: sp.Siginfo}}})
			if pid, st := e.wait4(1, int64(child), 0); pid != int64(child) || st != 15 {
				t.Errorf("wait4 = %d status %#x, want %d killed by SIGTERM", pid, st, child)
			}
		})
	}
}

// TestProcessLookupErrors: getpgid, getsid and setpgid of a pid that
// names no process, negative ones included, fail ESRCH (Linux's
// find_task_by_vpid); setpgid's negative pgid is EINVAL first.
func TestProcessLookupErrors(t *testing.T) {
	e := started(t)
	for _, tc := range []struct {
		name  string
		sysno uintptr
		args  []uint64
		want  unix.Errno
	}{
		{"getpgid(-99)", unix.SYS_GETPGID, []uint64{uint64(^uint64(98))}, unix.ESRCH},
		{"getpgid(unused)", unix.SYS_GETPGID, []uint64{4000000}, unix.ESRCH},
		{"getsid(-1)", unix.SYS_GETSID, []uint64{^uint64(0)}, unix.ESRCH},
		{"setpgid(-5, 0)", unix.SYS_SETPGID, []uint64{^uint64(4), 0}, unix.ESRCH},
		{"setpgid(0, -1)", unix.SYS_SETPGID, []uint64{0, ^uint64(0)}, unix.EINVAL},
	} {
		r := e.sys(1, tc.sysno, tc.args...)
		if unix.Errno(r.Errno) != tc.want {
			t.Errorf("%s: errno %v, want %v", tc.name, unix.Errno(r.Errno), tc.want)
		}
	}
}

// TestSIGCHLDAfterChildFilesClosed: the parent's SIGCHLD comes after the
// exiting child's files are closed (Linux: exit_files before
// exit_notify), so a SIGCHLD handler that writes to a pipe whose last
// reader was the child meets EPIPE. The close is slowed (the test hook)
// to widen the window a SIGCHLD sent first would fall in.
func TestSIGCHLDAfterChildFilesClosed(t *testing.T) {
	kernel.SetTestHookFilesClose(func() { time.Sleep(100 * time.Millisecond) })
	defer kernel.SetTestHookFilesClose(nil)
	e := started(t)
	m := e.mem
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGPIPE), m.alloc(ksignal.Action{Handler: ksignal.SigIgn}.Bytes()), 0, 8)
	// A handler (any address: the client runs it), so SIGCHLD is pushed.
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), m.alloc(ksignal.Action{Handler: 0x1000}.Bytes()), 0, 8)
	fds := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd, wfd := uint64(m.u32(fds)), uint64(m.u32(fds+4))
	child := e.fork(1)
	e.ok(1, unix.SYS_CLOSE, rfd)
	buf := m.alloc([]byte("a"))
	exited := make(chan *sentrypb.Reply, 1)
	go func() { exited <- e.sys(child, unix.SYS_EXIT_GROUP, 0) }()
	e.waitPush(func(p *sentrypb.Push) bool { return p.GetSignal().GetSigno() == int32(unix.SIGCHLD) })
	e.fails(unix.EPIPE, 1, unix.SYS_WRITE, wfd, buf, 1)
	<-exited
}
