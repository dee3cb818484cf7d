package server

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

const fuzzAddr = 0x10000

// fuzzKernel returns a fresh client with PID 1 (thread 1) holding stdio
// and a few open files, without exec, sending its messages nowhere.
func fuzzKernel(tb testing.TB, s *Server) *clientState {
	k, err := newClientState(s, &sentrypb.Hello{ClientId: "fuzz"}, grant{principal: "fuzz", operator: true})
	if err != nil {
		tb.Fatal(err)
	}
	k.setSender(func(*sentrypb.ServerMessage) error { return nil })
	k.mu.Lock()
	p, err := k.newProcessLocked(1, nil)
	if err != nil {
		tb.Fatal(err)
	}
	p.pgid, p.sid = 1, 1
	p.fds = newFDTable(k.trk, nil)
	p.fs = &fsContext{refs: 1, cwd: k.vfs.root, umask: 022}
	p.sig = &sigHandlers{}
	k.init = p
	k.started = true
	k.mu.Unlock()
	for i := int32(0); i < 3; i++ {
		p.fds.install(newStdioFile(k, i), i, false)
	}
	r, w := newPipe(k.trk)
	p.fds.installPair(r, w, false)
	return k
}

// fuzzOne runs one system call on thread 1, interrupting it if it blocks,
// and fails if it does not return.
func fuzzOne(t *testing.T, k *clientState, sysno int32, args []uint64, data []byte) *sentrypb.Reply {
	k.mu.Lock()
	th := k.threads[1]
	k.mu.Unlock()
	if th == nil {
		return nil
	}
	intr := make(chan struct{})
	done := make(chan *sentrypb.Reply, 1)
	sc := &sentrypb.Syscall{Sysno: sysno, Args: args, Inputs: []*sentrypb.Region{{Addr: fuzzAddr, Data: data}}}
	go func() { done <- k.dispatch(th, 1, sc, intr) }()
	select {
	case r := <-done:
		return r
	case <-time.After(100 * time.Millisecond):
	}
	close(intr)
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("%s%v did not return after an interrupt", sysName(sysno), args)
		return nil
	}
}

func FuzzSyscall(f *testing.F) {
	p := func(s string) []byte { return append([]byte(s), 0) }
	seed := func(sysno uintptr, data []byte, args ...uint64) {
		var a [6]uint64
		copy(a[:], args)
		f.Add(int32(sysno), a[0], a[1], a[2], a[3], a[4], a[5], data)
	}
	seed(unix.SYS_WRITE, []byte("hello"), 1, fuzzAddr, 5)
	seed(unix.SYS_READ, nil, 3, fuzzAddr, 10)
	seed(unix.SYS_OPEN, p("/tmp/x"), fuzzAddr, unix.O_CREAT|unix.O_RDWR, 0644)
	seed(unix.SYS_OPENAT, p("../../bin/busybox"), atFDCWD64, fuzzAddr, 0, 0)
	seed(unix.SYS_STAT, p("/proc/self/fd/3"), fuzzAddr, fuzzAddr+64)
	seed(unix.SYS_GETDENTS64, nil, 0, fuzzAddr, 100)
	seed(unix.SYS_EXECVE, append(p("/bin/busybox"), make([]byte, 16)...), fuzzAddr, fuzzAddr+13, 0)
	seed(unix.SYS_CLONE, nil, uint64(unix.SIGCHLD))
	seed(unix.SYS_WAIT4, nil, ^uint64(0), 0, 0, 0)
	seed(unix.SYS_KILL, nil, 0, 9)
	seed(unix.SYS_RT_SIGACTION, make([]byte, 32), 10, fuzzAddr, fuzzAddr, 8)
	seed(unix.SYS_POLL, []byte{3, 0, 0, 0, 1, 0, 0, 0}, fuzzAddr, 1, 1)
	seed(unix.SYS_SELECT, []byte{0xff}, 8, fuzzAddr, 0, 0, 0)
	seed(unix.SYS_READV, make([]byte, 32), 3, fuzzAddr, 2)
	seed(unix.SYS_WRITEV, []byte{0x10, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0}, 1, fuzzAddr, 1)
	seed(unix.SYS_FCNTL, make([]byte, 32), 3, unix.F_SETLK, fuzzAddr)
	seed(unix.SYS_IOCTL, nil, 3, fionread, fuzzAddr)
	seed(unix.SYS_RENAMEAT2, append(p("/tmp/a"), p("/tmp/b")...), atFDCWD64, fuzzAddr, atFDCWD64, fuzzAddr+7, 1)
	seed(unix.SYS_MMAP, nil, 0, 4096, 1, 2, 3, 0)
	seed(unix.SYS_TIMER_CREATE, sigevent(sigevSignal|sigevThreadID, 10, 1, 0), unix.CLOCK_MONOTONIC, fuzzAddr, fuzzAddr+64)
	seed(unix.SYS_TIMER_SETTIME, timerSpec(time.Millisecond, time.Millisecond, false), 0, 1, fuzzAddr, fuzzAddr)
	seed(unix.SYS_SETITIMER, timerSpec(0, time.Millisecond, true), unix.ITIMER_REAL, fuzzAddr, fuzzAddr)
	seed(unix.SYS_EXIT_GROUP, nil, 1)
	seed(9999, nil)
	root := newRoot(f)
	srv, err := New(Config{Gofer: startGofer(f, root), Log: testLog()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sysno int32, a0, a1, a2, a3, a4, a5 uint64, data []byte) {
		if len(data) > 1<<16 {
			data = data[:1<<16]
		}
		k := fuzzKernel(t, srv)
		defer k.destroy()
		r := fuzzOne(t, k, sysno, []uint64{a0, a1, a2, a3, a4, a5}, data)
		if r == nil {
			return
		}
		if r.Errno < 0 || r.Errno > maxErrno {
			t.Fatalf("%s: errno %d out of range", sysName(sysno), r.Errno)
		}
		if r.Errno != 0 && len(r.Outputs) != 0 {
			t.Fatalf("%s: failed call has outputs", sysName(sysno))
		}
		// The kernel is still usable.
		if r2 := fuzzOne(t, k, unix.SYS_GETPID, nil, nil); r2 != nil && r2.GetExit() == nil && r2.Errno == 0 && r2.Ret != 1 {
			t.Fatalf("getpid after %s = %d", sysName(sysno), r2.Ret)
		}
	})
}
