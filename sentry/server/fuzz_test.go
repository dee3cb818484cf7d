package server

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/eventfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

const fuzzAddr = 0x10000

// fuzzClient returns a fresh client with PID 1 (thread 1) holding stdio
// and a few open files, without exec, sending its messages nowhere.
func fuzzClient(tb testing.TB, s *Server) *client {
	c, err := openClient(s, &sentrypb.Hello{ClientId: "fuzz"}, grant{principal: "fuzz", operator: true})
	if err != nil {
		tb.Fatal(err)
	}
	c.stream.setSender(func(*sentrypb.ServerMessage) error { return nil })
	k := c.k
	k.Mu.Lock()
	p, err := k.NewProcessLocked(1, nil)
	if err != nil {
		tb.Fatal(err)
	}
	p.PGID, p.SID = 1, 1
	p.FDs = kernel.NewFDTable(k.Trk, nil, nil)
	p.FS = &kernel.FSContext{Refs: 1, Cwd: k.VFS.Root, Umask: 022}
	p.Sig = &ksignal.Handlers{}
	k.Init = p
	k.Started = true
	k.Mu.Unlock()
	for i := int32(0); i < 3; i++ {
		p.FDs.Install(k.NewStdioFile(i), i, false, 0)
	}
	r, w, err := kernel.NewPipe(k.Trk, k.Mem)
	if err != nil {
		tb.Fatal(err)
	}
	p.FDs.InstallPair(r, w, false, 0)
	// Kernel objects: a stream socketpair (5, 6), an epoll (7) and an
	// eventfd (8).
	ua, ub := socket.NewUnixPair(linux.SOCK_STREAM, socket.Creds{Pid: 1})
	sa, sb := unixsock.New(k, ua, 0), unixsock.New(k, ub, 0)
	unixsock.NewConn(0, true).PairFiles(sa, sb)
	p.FDs.InstallPair(sa, sb, false, 0)
	p.FDs.Install(epoll.New(0), 7, false, 0)
	if ef, err := eventfd.New(0, false, 0); err == nil {
		p.FDs.Install(ef, 8, false, 0)
	}
	return c
}

// fuzzOne runs one system call on thread 1, interrupting it if it blocks,
// and fails if it does not return.
func fuzzOne(t *testing.T, k *kernel.Kernel, sysno int32, args []uint64, data []byte) *sentrypb.Reply {
	k.Mu.Lock()
	th := k.Threads[1]
	k.Mu.Unlock()
	if th == nil {
		return nil
	}
	intr := make(chan struct{})
	done := make(chan *sentrypb.Reply, 1)
	sc := &sentrypb.Syscall{Sysno: sysno, Args: args, Inputs: []*sentrypb.Region{{Addr: fuzzAddr, Data: data}}}
	go func() { done <- dispatch(k, th, 1, sc, intr, nil, new(kernel.Task)) }()
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
		t.Fatalf("%s%v did not return after an interrupt", syscalls.Name(sysno), args)
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
	seed(unix.SYS_IOCTL, nil, 3, linux.FIONREAD, fuzzAddr)
	seed(unix.SYS_RENAMEAT2, append(p("/tmp/a"), p("/tmp/b")...), atFDCWD64, fuzzAddr, atFDCWD64, fuzzAddr+7, 1)
	seed(unix.SYS_MMAP, nil, 0, 4096, 1, 2, 3, 0)
	seed(unix.SYS_TIMER_CREATE, sigevent(kernel.SigevSignal|kernel.SigevThreadID, 10, 1, 0), unix.CLOCK_MONOTONIC, fuzzAddr, fuzzAddr+64)
	seed(unix.SYS_TIMER_SETTIME, timerSpec(time.Millisecond, time.Millisecond, false), 0, 1, fuzzAddr, fuzzAddr)
	seed(unix.SYS_SETITIMER, timerSpec(0, time.Millisecond, true), unix.ITIMER_REAL, fuzzAddr, fuzzAddr)
	le := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
		return b
	}
	// sendmsg: msghdr at fuzzAddr, iovec at +56, data at +72, control
	// (SCM_RIGHTS of fd 3) at +80.
	msg := append(le(0, 0, fuzzAddr+56, 1, fuzzAddr+80, 24, 0), le(fuzzAddr+72, 5)...)
	msg = append(msg, "hello\x00\x00\x00"...)
	msg = append(msg, le(20, 1|1<<32, 3)...)
	seed(unix.SYS_SENDMSG, msg, 5, fuzzAddr, 0)
	seed(unix.SYS_RECVMSG, msg, 6, fuzzAddr, unix.MSG_DONTWAIT)
	seed(unix.SYS_SENDTO, []byte("\x01\x00\x00abstract"), 5, fuzzAddr, 4, 0, fuzzAddr, 11)
	seed(unix.SYS_BIND, []byte("\x01\x00sock\x00"), 5, fuzzAddr, 7)
	// System V IPC: a sembuf (and a timespec at +8), SETALL's values, a
	// msgbuf, msqid64_ds.
	seed(unix.SYS_SEMGET, nil, 0, 2, linux.IPC_CREAT|0600)
	seed(unix.SYS_SEMOP, []byte{0, 0, 1, 0, 0, 0}, 0, fuzzAddr, 1)
	seed(unix.SYS_SEMTIMEDOP, append([]byte{1, 0, 0xff, 0xff, 0, 0, 0, 0}, le(0, 1000)...), 0, fuzzAddr, 1, fuzzAddr+8)
	seed(unix.SYS_SEMCTL, []byte{1, 0, 2, 0}, 0, 0, linux.SETALL, fuzzAddr)
	seed(unix.SYS_MSGGET, nil, 0, linux.IPC_CREAT|0600)
	seed(unix.SYS_MSGSND, append(le(1), "hi"...), 0, fuzzAddr, 2, 0)
	seed(unix.SYS_MSGRCV, nil, 0, fuzzAddr, 16, 0, linux.IPC_NOWAIT)
	seed(unix.SYS_MSGCTL, make([]byte, 120), 0, linux.IPC_SET, fuzzAddr)
	seed(unix.SYS_SHMGET, nil, 0, 4096, linux.IPC_CREAT|0600)
	seed(unix.SYS_SHMAT, nil, 0, 0, 0)
	seed(unix.SYS_SHMDT, nil, 0, 0)
	seed(unix.SYS_SHMCTL, nil, 0, linux.IPC_STAT, fuzzAddr)
	seed(unix.SYS_CONNECT, []byte("\x02\x00\x00\x50\x7f\x00\x00\x01"+string(make([]byte, 8))), 5, fuzzAddr, 16)
	seed(unix.SYS_SETSOCKOPT, le(1, 0), 5, unix.SOL_SOCKET, unix.SO_RCVTIMEO, fuzzAddr, 16)
	seed(unix.SYS_GETSOCKOPT, []byte{12, 0, 0, 0}, 5, unix.SOL_SOCKET, unix.SO_PEERCRED, fuzzAddr+8, fuzzAddr)
	seed(unix.SYS_SOCKET, nil, unix.AF_INET, unix.SOCK_STREAM, 0)
	seed(unix.SYS_SOCKETPAIR, nil, unix.AF_UNIX, unix.SOCK_DGRAM, 0, fuzzAddr)
	seed(unix.SYS_EPOLL_CTL, []byte{1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0}, 7, unix.EPOLL_CTL_ADD, 8, fuzzAddr)
	seed(unix.SYS_EPOLL_WAIT, nil, 7, fuzzAddr, 4, 0)
	seed(unix.SYS_EVENTFD2, nil, 3, unix.EFD_SEMAPHORE)
	seed(unix.SYS_WRITE, le(7), 8, fuzzAddr, 8)
	seed(unix.SYS_TIMERFD_CREATE, nil, unix.CLOCK_MONOTONIC, 0)
	seed(unix.SYS_SENDFILE, nil, 5, 0, 0, 10)
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
		c := fuzzClient(t, srv)
		defer c.destroy()
		k := c.k
		r := fuzzOne(t, k, sysno, []uint64{a0, a1, a2, a3, a4, a5}, data)
		if r == nil {
			return
		}
		if r.Errno < 0 || r.Errno > syserr.MaxErrno {
			t.Fatalf("%s: errno %d out of range", syscalls.Name(sysno), r.Errno)
		}
		if r.Errno != 0 && len(r.Outputs) != 0 && !versionWriteBack(sysno, a0, r) {
			t.Fatalf("%s: failed call has outputs", syscalls.Name(sysno))
		}
		// The kernel is still usable.
		if r2 := fuzzOne(t, k, unix.SYS_GETPID, nil, nil); r2 != nil && r2.GetExit() == nil && r2.Errno == 0 && r2.Ret != 1 {
			t.Fatalf("getpid after %s = %d", syscalls.Name(sysno), r2.Ret)
		}
	})
}

// versionWriteBack says whether r is the one failure that writes to the
// application, as Linux's does: capget or capset of an unknown header
// version fails with EINVAL and writes the preferred version over the
// header's first 4 bytes (syserr.KeepOutputs).
func versionWriteBack(sysno int32, header uint64, r *sentrypb.Reply) bool {
	return (sysno == unix.SYS_CAPGET || sysno == unix.SYS_CAPSET) && r.Errno == int32(unix.EINVAL) &&
		len(r.Outputs) == 1 && r.Outputs[0].GetAddr() == header && len(r.Outputs[0].GetData()) == 4
}
