package server

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestResentCallFindsItsFD: a call that makes an fd, run by the dead
// server, its reply lost but its fd's record folded (another message
// carried it), re-sent after the recovery answers the fd its first run
// made (FdState.seq) and makes no second one: as a run without the
// failure, the application is told that fd, and no fd stays open that
// nothing will close. A call the dead server never ran makes its fd as
// usual.
func TestResentCallFindsItsFD(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sysno uintptr
		// args of the call; base stands for an fd open before it.
		args func(r *replayer, base uint64) []uint64
		ran  bool
		// pair: the call makes two fds, written to the array its
		// last argument points at (pipe2's first), and returns 0.
		pair bool
	}{
		{name: "openat", sysno: unix.SYS_OPENAT, ran: true, args: func(r *replayer, _ uint64) []uint64 {
			return []uint64{uint64(atFDCWD64), r.mem.str("/tmp/made"), unix.O_CREAT | unix.O_RDWR, 0644}
		}},
		{name: "openat/not-run", sysno: unix.SYS_OPENAT, args: func(r *replayer, _ uint64) []uint64 {
			return []uint64{uint64(atFDCWD64), r.mem.str("/tmp/made"), unix.O_CREAT | unix.O_RDWR, 0644}
		}},
		{name: "dup", sysno: unix.SYS_DUP, ran: true, args: func(_ *replayer, base uint64) []uint64 { return []uint64{base} }},
		{name: "fcntl-dupfd", sysno: unix.SYS_FCNTL, ran: true, args: func(_ *replayer, base uint64) []uint64 {
			return []uint64{base, unix.F_DUPFD_CLOEXEC, 0}
		}},
		{name: "eventfd2", sysno: unix.SYS_EVENTFD2, ran: true, args: func(*replayer, uint64) []uint64 { return []uint64{0, 0} }},
		{name: "pipe2", sysno: unix.SYS_PIPE2, ran: true, pair: true, args: func(r *replayer, _ uint64) []uint64 {
			return []uint64{r.mem.zeros(8), unix.O_CLOEXEC}
		}},
		{name: "pipe2/not-run", sysno: unix.SYS_PIPE2, pair: true, args: func(r *replayer, _ uint64) []uint64 {
			return []uint64{r.mem.zeros(8), 0}
		}},
		{name: "socketpair", sysno: unix.SYS_SOCKETPAIR, ran: true, pair: true, args: func(r *replayer, _ uint64) []uint64 {
			return []uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0, r.mem.zeros(8)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			base := r.open("/tmp/base", unix.O_CREAT|unix.O_RDWR)
			args := tc.args(r, base)
			call := r.syscallCall(1, tc.sysno, args...)
			// made returns what the call said: its fds (the lowest
			// free: base+1, and base+2 for a pair).
			arr := args[0]
			if tc.sysno == unix.SYS_SOCKETPAIR {
				arr = args[3]
			}
			made := func(rep *sentrypb.Reply) string {
				if !tc.pair {
					return fmt.Sprintf("fd %d errno %d", rep.Ret, rep.Errno)
				}
				r.mem.apply(rep.Outputs)
				return fmt.Sprintf("fds %d %d errno %d", r.mem.u32(arr), r.mem.u32(arr+4), rep.Errno)
			}
			want, last := fmt.Sprintf("fd %d errno 0", base+1), base+1
			if tc.pair {
				want, last = fmt.Sprintf("fds %d %d errno 0", base+1, base+2), base+2
			}
			if tc.ran {
				// Its reply is lost; its fds' records are not.
				rep := r.call(call, true)
				if got := made(rep); got != want {
					t.Fatalf("first run: %s, want %s", got, want)
				}
				r.fold(rep.State)
				if r.loggedFD(1, last) == nil {
					t.Fatalf("no record of fd %d in the log", last)
				}
				if tc.pair {
					// The application's array as before the call.
					r.mem.apply([]*sentrypb.Region{{Addr: arr, Data: make([]byte, 8)}})
				}
			} else {
				r.unsentSeq(call)
			}
			r.recover(nil)
			if got := made(r.send([]*sentrypb.Call{call})[0]); got != want {
				t.Errorf("re-sent: %s, want %s", got, want)
			}
			if got := r.view(1, []uint64{last + 1, last + 2}); got != "[]" {
				t.Errorf("more fds open after the re-sent call: %s", got)
			}
		})
	}
}

// TestResentAcceptFindsItsConnection: an accept the dead server ran, its
// reply lost but the accepted socket's fd record folded, re-sent after
// the recovery answers that fd, with the peer's address written as the
// first run wrote it, instead of taking another connection from the
// queue (here: none, EAGAIN; a blocking accept would wait for one that
// already came).
func TestResentAcceptFindsItsConnection(t *testing.T) {
	r := newReplayer(t)
	r.start()
	m := r.mem
	sun := make([]byte, 110)
	binary.LittleEndian.PutUint16(sun, unix.AF_UNIX)
	copy(sun[2:], "/tmp/accept.sock")
	listener := uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0))
	r.ok(1, unix.SYS_BIND, listener, m.alloc(sun), uint64(len(sun)))
	r.ok(1, unix.SYS_LISTEN, listener, 4)
	client := uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0))
	r.ok(1, unix.SYS_CONNECT, client, m.alloc(sun), uint64(len(sun)))
	addr, addrLen := m.zeros(110), m.alloc([]byte{110, 0, 0, 0})
	call := r.syscallCall(1, unix.SYS_ACCEPT4, listener, addr, addrLen, 0)
	rep := r.call(call, true)
	if rep.Errno != 0 {
		t.Fatalf("first run: errno %v", unix.Errno(rep.Errno))
	}
	fd := rep.Ret
	r.fold(rep.State)
	if r.loggedFD(1, uint64(fd)) == nil {
		t.Fatalf("no record of fd %d in the log", fd)
	}
	r.recover(nil)
	rep = r.send([]*sentrypb.Call{call})[0]
	r.mem.apply(rep.Outputs)
	if rep.Errno != 0 || rep.Ret != fd {
		t.Errorf("re-sent accept: fd %d errno %v, want fd %d", rep.Ret, unix.Errno(rep.Errno), fd)
	}
	if n, family := r.mem.u32(addrLen), binary.LittleEndian.Uint16(r.mem.bytes(addr, 2)); n != 2 || family != unix.AF_UNIX {
		t.Errorf("re-sent accept: peer address length %d family %d, want 2 and AF_UNIX (an unnamed peer)", n, family)
	}
	if got := r.view(1, []uint64{uint64(fd) + 1}); got != "[]" {
		t.Errorf("a second fd is open after the re-sent accept: %s", got)
	}
}
