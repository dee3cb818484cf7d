package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// TestMappedFDLent: a PageRead asking for the mapped file's host fd
// (want_fd) on the framed wire over a Unix socket, of a server whose
// gofer donates fds, gets a read-only fd of busybox with its reply and
// no bytes; without want_fd, on gRPC (which carries no fds), and with a
// gofer that donates none, the bytes come as before.
func TestMappedFDLent(t *testing.T) {
	want, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		donate bool
		wire   transport.Wire
		wantFD bool
		lent   bool
	}{
		{"framed-want-fd", true, transport.WireFramed, true, true},
		{"framed-bytes", true, transport.WireFramed, false, false},
		{"grpc-want-fd", true, transport.WireGRPC, true, false},
		{"undonated-want-fd", false, transport.WireFramed, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _, _, _ := donatingEnv(t, tc.donate)
			conn, fds := dialHostFDs(t, e.sock, t.Name()+"-fd", tc.wire)
			call := func(c *sentrypb.Call) *sentrypb.Reply {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				r, err := conn.Call(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			r := call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte(busybox), []byte("sh")}, Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Umask: 022}}})
			if r.Errno != 0 || r.GetExec() == nil {
				t.Fatalf("Start: errno %v, plan %v", unix.Errno(r.Errno), r.GetExec())
			}
			id := r.GetExec().Image.FileId
			// The whole file, in one frame larger than the ones a
			// reader keeps (transport's maxKeptBuffer).
			pr := call(&sentrypb.Call{Op: &sentrypb.Call_PageRead{PageRead: &sentrypb.PageRead{FileId: id, Offset: 0, Length: 4 << 20, WantFd: tc.wantFD}}})
			if pr.Errno != 0 {
				t.Fatalf("PageRead: errno %v", unix.Errno(pr.Errno))
			}
			fd := fds.take(pr.Seq)
			got := fd >= 0
			if pr.HostFd != tc.lent || got != tc.lent {
				t.Fatalf("PageRead: host_fd %v, an fd came %v; want %v", pr.HostFd, got, tc.lent)
			}
			if !tc.lent {
				if !bytes.Equal(pr.GetData(), want) {
					t.Errorf("PageRead: %d bytes, not busybox's %d", len(pr.GetData()), len(want))
				}
				return
			}
			defer unix.Close(fd)
			if len(pr.GetData()) != 0 {
				t.Errorf("a reply lending an fd carries %d bytes too", len(pr.GetData()))
			}
			fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			if err != nil || fl&unix.O_ACCMODE != unix.O_RDONLY {
				t.Errorf("lent fd flags %#x (%v), want O_RDONLY", fl, err)
			}
			b := make([]byte, len(want)+1)
			n, err := unix.Pread(fd, b, 0)
			if err != nil || !bytes.Equal(b[:n], want) {
				t.Errorf("pread of the lent fd: %d bytes (%v), want busybox's %d", n, err, len(want))
			}
			if _, err := unix.Pwrite(fd, []byte{0}, 0); err != unix.EBADF {
				t.Errorf("pwrite of the lent fd: %v, want EBADF", err)
			}
		})
	}
}

// TestGoferReadLong: a read of several gofer Reads (an application's
// 3 MiB read, a PageRead's 4 MiB) returns the file's bytes, assembled in
// place from a donated fd (donated.ReadInto) or copied from the gofer's
// replies, to the end of the file.
func TestGoferReadLong(t *testing.T) {
	for _, donate := range []bool{true, false} {
		t.Run(fmt.Sprintf("donate=%v", donate), func(t *testing.T) {
			e, _, _, _ := donatingEnv(t, donate)
			data := make([]byte, 3<<20+12345)
			for i := range data {
				data[i] = byte(i*31 + i>>12)
			}
			if err := os.WriteFile(filepath.Join(e.root, "tmp/long"), data, 0644); err != nil {
				t.Fatal(err)
			}
			m := e.mem
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/long"), unix.O_RDONLY, 0))
			for _, tc := range []struct{ off, n int }{{0, 3 << 20}, {5000, 4 << 20}, {3 << 20, 1 << 20}} {
				checkPread(t, e, fd, data, tc.off, tc.n)
			}
		})
	}
}
