package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// TestLendFD: a LendFD of a description open for reading alone, on the
// framed wire over a Unix socket of a server whose gofer donates fds,
// gets a read-only host fd of the file with its reply; one naming
// another description than the fd's is refused with EBADF, one of a
// writable description with EINVAL, one on gRPC (which carries no fds)
// with EOPNOTSUPP, and one of a closed fd with EBADF.
func TestLendFD(t *testing.T) {
	base, _, _, _ := donatingEnv(t, true)
	data := make([]byte, 1<<20+777)
	for i := range data {
		data[i] = byte(i*7 + i>>10)
	}
	if err := os.WriteFile(filepath.Join(base.root, "tmp/big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Two more sandboxes: on the framed wire, which carries fds, and on
	// gRPC, which does not.
	sandbox := func(wire transport.Wire) (*env, *hostFDs) {
		conn, fds := dialHostFDs(t, base.sock, t.Name()+"-"+wire.String(), wire)
		e := &env{t: t, root: base.root, srv: base.srv, conn: conn, mem: newAppMem(), pushCh: make(chan *sentrypb.Push, 1024)}
		if r := e.start(busybox, "sh"); r.Errno != 0 {
			t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
		}
		return e, fds
	}
	framed, framedFDs := sandbox(transport.WireFramed)
	grpc, grpcFDs := sandbox(transport.WireGRPC)
	fdsOf := map[*env]*hostFDs{framed: framedFDs, grpc: grpcFDs}

	open := func(e *env, flags uint64) (int32, uint64) {
		t.Helper()
		r := e.sys(1, unix.SYS_OPENAT, atFDCWD64, e.mem.str("/tmp/big"), flags, 0)
		if r.Errno != 0 {
			t.Fatalf("open: %v", unix.Errno(r.Errno))
		}
		fd := int32(r.Ret)
		return fd, fdRecordFile(t, r.State, fd)
	}
	lend := func(e *env, fd int32, file uint64) (*sentrypb.Reply, int) {
		t.Helper()
		r := e.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_LendFd{LendFd: &sentrypb.LendFD{Fd: fd, File: file}}})
		return r, fdsOf[e].take(r.Seq)
	}

	rfd, rfile := open(framed, unix.O_RDONLY)
	wfd, wfile := open(framed, unix.O_RDWR)
	gfd, gfile := open(grpc, unix.O_RDONLY)
	for _, tc := range []struct {
		name string
		e    *env
		fd   int32
		file uint64
		want unix.Errno // 0: lent
	}{
		{"read-only", framed, rfd, rfile, 0},
		{"another description", framed, rfd, wfile, unix.EBADF},
		{"writable", framed, wfd, wfile, unix.EINVAL},
		{"closed fd", framed, 99, rfile, unix.EBADF},
		{"grpc", grpc, gfd, gfile, unix.EOPNOTSUPP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, hfd := lend(tc.e, tc.fd, tc.file)
			if unix.Errno(r.Errno) != tc.want || r.HostFd != (tc.want == 0) || (hfd >= 0) != (tc.want == 0) {
				t.Fatalf("LendFD: errno %v, host_fd %v, an fd came %v; want errno %v", unix.Errno(r.Errno), r.HostFd, hfd >= 0, tc.want)
			}
			if hfd < 0 {
				return
			}
			defer unix.Close(hfd)
			fl, err := unix.FcntlInt(uintptr(hfd), unix.F_GETFL, 0)
			if err != nil || fl&unix.O_ACCMODE != unix.O_RDONLY {
				t.Errorf("lent fd flags %#x (%v), want O_RDONLY", fl, err)
			}
			b := make([]byte, 4096)
			if n, err := unix.Pread(hfd, b, 1<<20); err != nil || !bytes.Equal(b[:n], data[1<<20:]) {
				t.Errorf("pread of the lent fd at 1 MiB: %d bytes (%v), want the file's last %d", n, err, len(data)-1<<20)
			}
			if _, err := unix.Pwrite(hfd, []byte{0}, 0); err != unix.EBADF {
				t.Errorf("pwrite of the lent fd: %v, want EBADF", err)
			}
		})
	}
}

// hostFDs are the host fds that came with a connection's replies, by
// the reply's seq.
type hostFDs struct {
	mu  sync.Mutex
	fds map[uint64]int
}

// take returns the fd that came with the reply of call seq (-1: none),
// which the caller then owns.
func (h *hostFDs) take(seq uint64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	fd, ok := h.fds[seq]
	if !ok {
		return -1
	}
	delete(h.fds, seq)
	return fd
}

// dialHostFDs connects a client of id to the server at sock on wire,
// keeping the host fds its replies bring.
func dialHostFDs(t testing.TB, sock, id string, wire transport.Wire) (*transport.StreamConn, *hostFDs) {
	t.Helper()
	fds := &hostFDs{fds: map[uint64]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := transport.Dial(ctx, "unix:"+sock, transport.Options{
		Hello:             &sentrypb.Hello{ClientId: id},
		HeartbeatInterval: time.Second,
		Wire:              wire,
		OnHostFD: func(seq uint64, fd int) {
			fds.mu.Lock()
			fds.fds[seq] = fd
			fds.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, fds
}
