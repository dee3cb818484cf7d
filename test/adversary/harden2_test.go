package adversary

import (
	"context"
	"encoding/binary"
	"os"
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
	// state is the replay state the server sent in replies, by key.
	state map[string]*sentrypb.StateRecord
}

func (h *hostileSession) fold(recs []*sentrypb.StateRecord) {
	for _, r := range recs {
		if r.GetDeleted() {
			delete(h.state, r.GetKey())
		} else {
			h.state[r.GetKey()] = r
		}
	}
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
	h := &hostileSession{t: t, ctx: ctx, c: c, seq: 1, state: make(map[string]*sentrypb.StateRecord)}
	r, err := c.Call(ctx, &sentrypb.Call{Seq: h.seq, Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte("/bin/true")}, Cwd: []byte("/")}}})
	if err != nil || r.GetErrno() != 0 {
		t.Fatalf("start: %v errno %d", err, r.GetErrno())
	}
	h.fold(r.GetState())
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
	h.fold(r.GetState())
	return r.GetRet(), unix.Errno(r.GetErrno())
}

// TestServerFDTableBounded: a client asking the server for an absurd
// RLIMIT_NOFILE is refused (EPERM above nr_open, as Linux's do_prlimit),
// and at nr_open fds spread over the whole range work (that each costs
// one map entry, not an array up to the highest, is sentry/server's
// TestFDTableLimits: a Go array of zeroes is not resident, so the
// daemon's RSS would not tell).
func TestServerFDTableBounded(t *testing.T) {
	const nrOpen = 1 << 20
	_, target := serverUnderAttack(t)
	h := startHostile(t, target, "fds")
	setLimit := func(n uint64) unix.Errno {
		var lim [16]byte
		binary.LittleEndian.PutUint64(lim[:], n)
		binary.LittleEndian.PutUint64(lim[8:], n)
		const addr = 0x10000
		_, e := h.syscall(unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_NOFILE, addr, 0}, &sentrypb.Region{Addr: addr, Data: lim[:]})
		return e
	}
	if e := setLimit(1 << 40); e != unix.EPERM {
		t.Fatalf("prlimit64 2^40: %v, want EPERM (above nr_open)", e)
	}
	if e := setLimit(nrOpen); e != 0 {
		t.Fatalf("prlimit64 nr_open: %v", e)
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

// TestServerRestoreOtherClientsHandles: the replay records a client holds
// name the gofer's (sealed) file handles; a client that learned another
// client's records, here all of them, could Restore them into a session
// of its own and have the server reopen the other's files. The server
// binds each handle to the client it showed it to: the Restore is
// refused.
func TestServerRestoreOtherClientsHandles(t *testing.T) {
	_, target := serverUnderAttack(t)
	victim := startHostile(t, target, "victim")
	dir := t.TempDir()
	secret := dir + "/secret"
	if err := os.WriteFile(secret, []byte("victim's data"), 0o600); err != nil {
		t.Fatal(err)
	}
	const addr = 0x10000
	path := append([]byte(secret), 0)
	fd, e := victim.syscall(unix.SYS_OPENAT, []uint64{uint64(0xffffff9c), addr, unix.O_RDWR, 0}, &sentrypb.Region{Addr: addr, Data: path})
	if e != 0 {
		t.Fatalf("victim's open: %v", e)
	}
	var recs []*sentrypb.StateRecord
	handles := 0
	for _, r := range victim.state {
		recs = append(recs, r)
		if len(r.GetFile().GetFileHandle()) > 0 {
			handles++
		}
	}
	if handles == 0 {
		t.Fatalf("no file handle in the victim's %d records (fd %d)", len(recs), fd)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := transport.Dial(ctx, target, transport.Options{Hello: &sentrypb.Hello{ClientId: "thief"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Call(ctx, &sentrypb.Call{Seq: 1, Op: &sentrypb.Call_Restore{Restore: &sentrypb.Restore{Records: recs}}})
	if err != nil {
		t.Fatal(err)
	}
	if unix.Errno(r.GetErrno()) != unix.EPERM {
		t.Fatalf("Restore of another client's records: errno %v, want EPERM", unix.Errno(r.GetErrno()))
	}
	// Nothing restored: no process to read the file with.
	rd, err := c.Call(ctx, &sentrypb.Call{Seq: 2, Tid: victim.pid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: unix.SYS_READ, Args: []uint64{uint64(fd), addr, 64}}}})
	if err == nil && rd.GetErrno() == 0 {
		t.Errorf("the thief read the victim's fd %d: %d bytes", fd, rd.GetRet())
	}
}

// TestServerClientMemoryCap: one client cannot make the server hold more
// than --max-client-memory with objects that are each within their own
// limits: sockets (their receive buffers) and SysV message queues
// (queued messages) are charged to it, and refused beyond it with
// Linux's errnos. (PageWrite data in flight is charged but never
// refused: sentry/server TestClientMemoryCap.)
func TestServerClientMemoryCap(t *testing.T) {
	const capBytes = 2 << 20
	_, target := serverUnderAttack(t, "--max-client-memory", "2097152")
	h := startHostile(t, target, "hog")
	sockets := 0
	for ; sockets < 100; sockets++ {
		_, e := h.syscall(unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0})
		if e == unix.ENOBUFS {
			break
		}
		if e != 0 {
			t.Fatalf("socket %d: %v", sockets, e)
		}
	}
	// gVisor's AF_UNIX receive buffer is 208 KiB: 9 fit in 2 MiB.
	if sockets == 0 || sockets >= 100 || sockets*(208<<10) > capBytes {
		t.Errorf("%d AF_UNIX sockets under a %d-byte cap", sockets, capBytes)
	}
	// What is left of the cap fills with queued messages, over as many
	// queues as it takes (each holds 16 KiB): then msgsnd is ENOMEM.
	const addr = 0x20000
	msg := make([]byte, 8+1024)
	msg[0] = 1 // mtype
	var sent, queues int
	var e unix.Errno
	for queues = 0; queues < 100 && e != unix.ENOMEM; queues++ {
		id, ge := h.syscall(unix.SYS_MSGGET, []uint64{0, 01600}) // IPC_PRIVATE, IPC_CREAT|0600
		if ge != 0 {
			t.Fatalf("msgget: %v", ge)
		}
		for e = 0; e == 0; sent++ {
			_, e = h.syscall(unix.SYS_MSGSND, []uint64{uint64(id), addr, 1024, 04000}, &sentrypb.Region{Addr: addr, Data: msg}) // IPC_NOWAIT
		}
		sent--
		if e != unix.EAGAIN && e != unix.ENOMEM {
			t.Fatalf("msgsnd: %v", e)
		}
	}
	if e != unix.ENOMEM || sent*1024 > capBytes-sockets*(208<<10) {
		t.Errorf("msgsnd stopped after %d messages in %d queues with %v, want ENOMEM within the cap", sent, queues, e)
	}
	// The server still answers.
	if pid, e := h.syscall(unix.SYS_GETPID, nil); e != 0 || int32(pid) != h.pid {
		t.Errorf("getpid after the attack: %d, %v", pid, e)
	}
}
