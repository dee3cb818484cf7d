package client

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOrderedCalls: a process with several threads counts its calls in
// flight that may remove an fd or move a description's offset (both
// descriptions of a sendfile), and those not neutral or naming an fd
// (which hold back another thread's posted close of it); the answers of
// its other threads wait for none of the others; a process with one
// thread counts nothing.
func TestOrderedCalls(t *testing.T) {
	const pid, table = 1, 7
	const fileA, fileB, pipeR = 40, 41, 42 // descriptions of fds 5, 6, 7
	tests := []struct {
		name  string
		sysno uintptr
		args  [6]uint64
		// threads of the process; removal and descs: what is counted;
		// closable: the fds another thread may post a close of.
		threads  int
		removal  bool
		descs    []uint64
		closable []int32
	}{
		{name: "read", sysno: unix.SYS_READ, args: [6]uint64{5}, threads: 2, descs: []uint64{fileA}, closable: []int32{6, 7}},
		{name: "lseek", sysno: unix.SYS_LSEEK, args: [6]uint64{6}, threads: 2, descs: []uint64{fileB}, closable: []int32{5, 7}},
		{name: "getdents64", sysno: unix.SYS_GETDENTS64, args: [6]uint64{6}, threads: 3, descs: []uint64{fileB}, closable: []int32{5, 7}},
		{name: "sendfile", sysno: unix.SYS_SENDFILE, args: [6]uint64{6, 5}, threads: 2, descs: []uint64{fileB, fileA}},
		{name: "copy_file_range", sysno: unix.SYS_COPY_FILE_RANGE, args: [6]uint64{5, 0, 6}, threads: 2, descs: []uint64{fileA, fileB}},
		{name: "write of a pipe", sysno: unix.SYS_WRITE, args: [6]uint64{7}, threads: 2, descs: []uint64{pipeR}, closable: []int32{5, 6}},
		{name: "read of an fd not open", sysno: unix.SYS_READ, args: [6]uint64{9}, threads: 2, closable: []int32{5, 6, 7}},
		{name: "pread64 (no offset)", sysno: unix.SYS_PREAD64, args: [6]uint64{5}, threads: 2, closable: []int32{6, 7}},
		{name: "epoll_pwait", sysno: unix.SYS_EPOLL_PWAIT, args: [6]uint64{7}, threads: 2, closable: []int32{5, 6}},
		{name: "waitid of a pid", sysno: unix.SYS_WAITID, args: [6]uint64{1, 99}, threads: 2, closable: []int32{5, 6, 7}},
		{name: "waitid of a pidfd", sysno: unix.SYS_WAITID, args: [6]uint64{pPIDFD, 5}, threads: 2, closable: []int32{6, 7}},
		{name: "newfstatat of AT_FDCWD", sysno: unix.SYS_NEWFSTATAT, args: [6]uint64{uint64(1<<64 - 100)}, threads: 2, closable: []int32{5, 6, 7}},
		{name: "openat makes an fd", sysno: unix.SYS_OPENAT, args: [6]uint64{uint64(1<<64 - 100)}, threads: 2},
		{name: "recvmsg may make fds", sysno: unix.SYS_RECVMSG, args: [6]uint64{7}, threads: 2},
		{name: "poll names fds in memory", sysno: unix.SYS_POLL, threads: 2},
		{name: "close", sysno: unix.SYS_CLOSE, args: [6]uint64{5}, threads: 2, removal: true},
		{name: "dup2", sysno: unix.SYS_DUP2, args: [6]uint64{5, 6}, threads: 2, removal: true},
		{name: "execve", sysno: unix.SYS_EXECVE, threads: 2, removal: true},
		{name: "one thread", sysno: unix.SYS_CLOSE, args: [6]uint64{5}, threads: 1, closable: []int32{5, 6, 7}},
		{name: "one thread reads", sysno: unix.SYS_READ, args: [6]uint64{5}, threads: 1, closable: []int32{5, 6, 7}},
		{name: "getpid", sysno: unix.SYS_GETPID, threads: 2, closable: []int32{5, 6, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{cfg: Config{}}
			c.ids.byPID = map[int32]procIDs{pid: {fdTable: table}}
			c.ids.observeFD(table, 5, false, fileA, false)
			c.ids.observeFD(table, 6, false, fileB, false)
			c.ids.observeFD(table, 7, false, pipeR, false)
			p := &process{pid: pid, threads: make(map[int32]*task)}
			tk := &task{c: c, proc: p}
			for i := 0; i < tc.threads; i++ {
				p.threads[int32(100+i)] = tk
			}
			oc, counted := tk.beginOrdered(tc.sysno, tc.args)
			if want := tc.threads > 1; counted != want {
				t.Fatalf("counted %v, want %v", counted, want)
			}
			p.callOrder.Lock()
			for _, fd := range []int32{5, 6, 7} {
				want := slices.Contains(tc.closable, fd)
				if got := p.othersAllowCloseLocked(fd); got != want {
					t.Errorf("a close of fd %d may be posted: %v, want %v", fd, got, want)
				}
			}
			if got := !p.othersQuietLocked(0, false); got != tc.removal {
				t.Errorf("a removal in flight: %v, want %v", got, tc.removal)
			}
			for _, d := range []uint64{fileA, fileB, pipeR} {
				want := tc.removal
				for _, cd := range tc.descs {
					want = want || cd == d
				}
				if got := !p.othersQuietLocked(d, true); got != want {
					t.Errorf("description %d's offset held: %v, want %v", d, got, want)
				}
				if got := !p.othersQuietLocked(d, false); got != tc.removal {
					t.Errorf("description %d held without its offset: %v, want %v", d, got, tc.removal)
				}
			}
			p.callOrder.Unlock()
			if counted {
				tk.endOrdered(p, oc)
			}
			if p.fdRemovals != 0 || len(p.offsetCalls) != 0 || p.otherCalls != 0 || len(p.fdCalls) != 0 {
				t.Errorf("after the reply: %d removals, offsets %v, %d others, fds %v", p.fdRemovals, p.offsetCalls, p.otherCalls, p.fdCalls)
			}
		})
	}
}

// TestCachedFileOfThreads: the read cache answers a thread of a process
// with several threads only while no other thread's call in flight may
// remove an fd or, for a call that uses the offset (sole), move the
// description's offset.
func TestCachedFileOfThreads(t *testing.T) {
	const pid, table, fd, desc = 1, 7, 5, 40
	tests := []struct {
		name     string
		removals int
		offsets  map[uint64]int
		sole     bool
		want     bool
	}{
		{name: "nothing in flight", sole: true, want: true},
		{name: "another description's offset call", offsets: map[uint64]int{desc + 1: 1}, sole: true, want: true},
		{name: "its offset call, a read", offsets: map[uint64]int{desc: 1}, sole: true},
		{name: "its offset call, an fstat", offsets: map[uint64]int{desc: 2}, want: true},
		{name: "a removal, a read", removals: 1, sole: true},
		{name: "a removal, an fstat", removals: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{rcache: &readCache{}, files: &fileCache{}, cfg: Config{}}
			c.ids.byPID = map[int32]procIDs{pid: {fdTable: table}}
			c.ids.observeFD(table, fd, false, desc, false)
			c.pipe.files = map[uint64]pipeFile{desc: {regular: true, flags: unix.O_RDONLY}}
			p := &process{pid: pid, threads: make(map[int32]*task), fdRemovals: tc.removals, offsetCalls: tc.offsets}
			tk := &task{c: c, proc: p}
			p.threads[1], p.threads[2] = tk, tk
			p.callOrder.Lock()
			_, _, ok := tk.cachedFile(fd, tc.sole)
			p.callOrder.Unlock()
			if ok != tc.want {
				t.Errorf("cachedFile(sole %v) = %v, want %v", tc.sole, ok, tc.want)
			}
		})
	}
}

// TestOrderedCallsWithoutThreadedPosting: with --threaded-posting=false a
// process with several threads counts only its fd removals in flight
// (which hold back a posted F_SETFL), nothing else.
func TestOrderedCallsWithoutThreadedPosting(t *testing.T) {
	c := &client{cfg: Config{NoThreadedPosting: true}}
	c.ids.byPID = map[int32]procIDs{1: {fdTable: 7}}
	c.ids.observeFD(7, 5, false, 40, false)
	p := &process{pid: 1, threads: make(map[int32]*task)}
	tk := &task{c: c, proc: p}
	p.threads[1], p.threads[2] = tk, tk
	if _, counted := tk.beginOrdered(unix.SYS_READ, [6]uint64{5}); counted {
		t.Error("a read counted")
	}
	oc, counted := tk.beginOrdered(unix.SYS_CLOSE, [6]uint64{5})
	if !counted || p.fdRemovals != 1 || p.otherCalls != 0 || len(p.offsetCalls) != 0 || len(p.fdCalls) != 0 {
		t.Fatalf("a close: counted %v, %d removals, %d others, offsets %v, fds %v", counted, p.fdRemovals, p.otherCalls, p.offsetCalls, p.fdCalls)
	}
	tk.endOrdered(p, oc)
	if p.fdRemovals != 0 {
		t.Errorf("%d removals after the reply", p.fdRemovals)
	}
}
