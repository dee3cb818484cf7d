package adversary

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// hostileSession is a client that started an application (/bin/true,
// never run) and sends the server whatever system calls it likes for it.
type hostileSession struct {
	t   *testing.T
	ctx context.Context
	c   transport.Conn
	pid int32
	seq uint64
}

func startHostile(t *testing.T, target, id string) *hostileSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c, err := transport.Dial(ctx, target, transport.Options{Hello: &sentrypb.Hello{ClientId: id}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &hostileSession{t: t, ctx: ctx, c: c, seq: 1}
	r, err := c.Call(ctx, &sentrypb.Call{Seq: h.seq, Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: []string{"/bin/true"}, Cwd: "/"}}})
	if err != nil || r.GetErrno() != 0 {
		t.Fatalf("start: %v errno %d", err, r.GetErrno())
	}
	h.pid = int32(r.GetRet())
	return h
}

// syscall sends one system call with the given inputs and returns its
// result and errno.
func (h *hostileSession) syscall(sysno int32, args []uint64, inputs ...*sentrypb.Region) (int64, unix.Errno) {
	h.t.Helper()
	h.seq++
	r, err := h.c.Call(h.ctx, &sentrypb.Call{Seq: h.seq, Tid: h.pid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: sysno, Args: args, Inputs: inputs}}})
	if err != nil {
		h.t.Fatalf("syscall %d: %v", sysno, err)
	}
	return r.GetRet(), unix.Errno(r.GetErrno())
}

// TestServerFDTableBounded: a client asking the server for an absurd
// RLIMIT_NOFILE gets nr_open at most; fds spread over the whole range
// work (that each costs one map entry, not an array up to the highest,
// is sentry/server's TestFDTableLimits: a Go array of zeroes is not
// resident, so the daemon's RSS would not tell).
func TestServerFDTableBounded(t *testing.T) {
	const nrOpen = 1 << 20
	_, target := serverUnderAttack(t)
	h := startHostile(t, target, "fds")
	var lim [16]byte
	binary.LittleEndian.PutUint64(lim[:], 1<<40)
	binary.LittleEndian.PutUint64(lim[8:], 1<<40)
	const addr = 0x10000
	if _, e := h.syscall(unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_NOFILE, addr, 0}, &sentrypb.Region{Addr: addr, Data: lim[:]}); e != 0 {
		t.Fatalf("prlimit64 2^40: %v", e)
	}
	for _, tc := range []struct {
		name    string
		sysno   int32
		args    []uint64
		want    int64
		wantErr unix.Errno
	}{
		{"dup2 to nr_open", unix.SYS_DUP2, []uint64{0, nrOpen}, 0, unix.EBADF},
		{"dup2 to 2^31-1", unix.SYS_DUP2, []uint64{0, 1<<31 - 1}, 0, unix.EBADF},
		{"dup2 to nr_open-1", unix.SYS_DUP2, []uint64{0, nrOpen - 1}, nrOpen - 1, 0},
		{"F_DUPFD from nr_open-1", unix.SYS_FCNTL, []uint64{0, unix.F_DUPFD, nrOpen - 1}, 0, unix.EMFILE},
		{"F_DUPFD from nr_open", unix.SYS_FCNTL, []uint64{0, unix.F_DUPFD, nrOpen}, 0, unix.EINVAL},
	} {
		got, e := h.syscall(tc.sysno, tc.args)
		if e != tc.wantErr || (e == 0 && got != tc.want) {
			t.Errorf("%s: %d, %v; want %d, %v", tc.name, got, e, tc.want, tc.wantErr)
		}
	}
	// A thousand fds spread up to nr_open, all usable.
	for i := uint64(0); i < 1000; i++ {
		fd := nrOpen - 2 - i*1000
		if got, e := h.syscall(unix.SYS_DUP2, []uint64{0, fd}); e != 0 || got != int64(fd) {
			t.Fatalf("dup2 to %d: %d, %v", fd, got, e)
		}
	}
	if _, e := h.syscall(unix.SYS_CLOSE, []uint64{nrOpen - 2 - 999*1000}); e != 0 {
		t.Errorf("close of a high fd: %v", e)
	}
}
