package gofer

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// donatingStream is a Calls stream to a gofer over the framed wire on a
// Unix socket, as a server on the gofer's machine opens it.
type donatingStream struct {
	t    *testing.T
	st   *transport.FramedStream
	next uint32
}

func openDonatingStream(t *testing.T, opts ...Option) (*Server, *donatingStream, string) {
	t.Helper()
	root := t.TempDir()
	srv, err := NewServer(root, testLogger(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "gofer.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	go transport.ServeFramed(lis, g, nil, func(st *transport.FramedStream) error { return srv.ServeCalls(st) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := transport.DialFramedStream(ctx, transport.Target{Network: "unix", Address: sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		g.Stop()
		srv.Close()
	})
	if err := st.SendMsg(&goferpb.GoferCall{ProtocolVersion: goferpb.ProtocolVersion}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(new(goferpb.GoferResult)); err != nil {
		t.Fatal(err)
	}
	return srv, &donatingStream{t: t, st: st}, root
}

// call makes one call and returns its reply and the fd donated with it
// (-1 if none), which the test closes.
func (d *donatingStream) call(method string, req, rep proto.Message) int {
	d.t.Helper()
	d.next++
	if err := d.st.SendMsg(&goferpb.GoferCall{Id: d.next, Method: method, Request: marshal(d.t, req)}); err != nil {
		d.t.Fatal(err)
	}
	r := new(goferpb.GoferResult)
	if err := d.st.RecvMsg(r); err != nil {
		d.t.Fatal(err)
	}
	if r.GetId() != d.next || r.GetCode() != 0 {
		d.t.Fatalf("%s: result %v", method, r)
	}
	if err := proto.Unmarshal(r.GetReply(), rep); err != nil {
		d.t.Fatal(err)
	}
	fd := -1
	if r.GetFds() > 0 {
		if fd = d.st.TakeFD(); fd < 0 {
			d.t.Fatalf("%s: result claims %d fds, none came", method, r.GetFds())
		}
		d.t.Cleanup(func() { unix.Close(fd) })
	}
	return fd
}

// walkOpen walks to name from dir and opens it with flags, asking for a
// donation; it returns the file's handle, its inode and the donated fd.
func (d *donatingStream) walkOpen(dir uint64, name string, flags uint32) (uint64, uint64, int) {
	d.t.Helper()
	rep := new(goferpb.WalkReply)
	fd := d.call("Walk", &goferpb.WalkRequest{Dir: dir, Names: [][]byte{[]byte(name)}, Open: true, OpenFlags: flags, Donate: true}, rep)
	if rep.GetErrno() != 0 || rep.GetOpenErrno() != 0 || len(rep.GetFiles()) != 1 {
		d.t.Fatalf("walk-open %q: %v", name, rep)
	}
	return rep.Files[0].GetHandle().GetId(), rep.Files[0].GetStat().GetIno(), fd
}

// TestDonatedFDs checks what the gofer donates: an fd of exactly the
// opened regular file, with exactly the access mode asked for (so a
// read-only open gives no write access), nothing for a directory, an
// O_SYNC open or a writable set-id file, nothing when disabled, and no
// more than the session's limit until a handle is released.
func TestDonatedFDs(t *testing.T) {
	_, d, root := openDonatingStream(t, WithMaxDonatedFDs(3))
	for name, content := range map[string]string{"f": "0123456789", "g": "x", "s": "y"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := new(goferpb.AttachReply)
	d.call("Attach", &goferpb.AttachRequest{}, a)
	rootH := a.GetRoot().GetId()

	// Read-only: the fd reads the file and cannot write it.
	fh, ino, fd := d.walkOpen(rootH, "f", unix.O_RDONLY)
	if fd < 0 {
		t.Fatal("no fd donated for a read-only regular file")
	}
	checkDonatedFD(t, fd, ino, unix.O_RDONLY)
	buf := make([]byte, 4)
	if n, err := unix.Pread(fd, buf, 2); err != nil || string(buf[:n]) != "2345" {
		t.Errorf("pread of the donated fd: %q %v", buf[:n], err)
	}
	if _, err := unix.Pwrite(fd, []byte("w"), 0); err != unix.EBADF {
		t.Errorf("pwrite through a read-only donation: %v, want EBADF", err)
	}
	// Nothing can be walked from it.
	if _, err := unix.Openat(fd, "..", unix.O_RDONLY, 0); err != unix.ENOTDIR {
		t.Errorf("openat(donated fd, \"..\"): %v, want ENOTDIR", err)
	}

	// Not donated: a directory, an O_SYNC open, a writable set-id file,
	// a request that does not ask.
	if _, _, fd := d.walkOpen(rootH, "d", unix.O_RDONLY); fd >= 0 {
		t.Error("a directory's fd was donated")
	}
	if _, _, fd := d.walkOpen(rootH, "g", unix.O_WRONLY|unix.O_SYNC); fd >= 0 {
		t.Error("an O_SYNC open's fd was donated")
	}
	sh, _, _ := d.walkOpen(rootH, "s", unix.O_RDONLY)
	ss := new(goferpb.SetStatReply)
	d.call("SetStat", &goferpb.SetStatRequest{Handle: sh, Mask: unix.STATX_MODE, Mode: 0o4755}, ss)
	if ss.GetErrno() != 0 {
		t.Fatalf("chmod u+s: errno %d", ss.GetErrno())
	}
	if _, _, fd := d.walkOpen(rootH, "s", unix.O_RDWR); fd >= 0 {
		t.Error("a writable fd of a set-id file was donated")
	}
	w := new(goferpb.WalkReply)
	if fd := d.call("Walk", &goferpb.WalkRequest{Dir: rootH, Names: [][]byte{[]byte("f")}, Open: true, OpenFlags: unix.O_RDONLY}, w); fd >= 0 {
		t.Error("donated without being asked")
	}

	// Read-write by Open of a walked handle, then the limit (3: f, s
	// read-only, this one).
	o := new(goferpb.OpenReply)
	gh := walkHandle(t, d, rootH, "g")
	fd = d.call("Open", &goferpb.OpenRequest{Handle: gh, Flags: unix.O_RDWR, Donate: true}, o)
	if o.GetErrno() != 0 || fd < 0 {
		t.Fatalf("Open O_RDWR: errno %d, fd %d", o.GetErrno(), fd)
	}
	checkDonatedFD(t, fd, statIno(t, filepath.Join(root, "g")), unix.O_RDWR)
	if _, _, fd := d.walkOpen(rootH, "f", unix.O_RDONLY); fd >= 0 {
		t.Error("donated beyond the session's limit")
	}
	d.call("Release", &goferpb.ReleaseRequest{Handles: []uint64{fh}}, new(goferpb.ReleaseReply))
	if _, _, fd := d.walkOpen(rootH, "f", unix.O_RDONLY); fd < 0 {
		t.Error("no donation once a donated handle was released")
	}
}

// TestDonationDisabled: WithDonateFDs(false) donates nothing.
func TestDonationDisabled(t *testing.T) {
	_, d, root := openDonatingStream(t, WithDonateFDs(false))
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := new(goferpb.AttachReply)
	d.call("Attach", &goferpb.AttachRequest{}, a)
	if _, _, fd := d.walkOpen(a.GetRoot().GetId(), "f", unix.O_RDWR); fd >= 0 {
		t.Error("donated with WithDonateFDs(false)")
	}
}

func walkHandle(t *testing.T, d *donatingStream, dir uint64, name string) uint64 {
	t.Helper()
	w := new(goferpb.WalkReply)
	d.call("Walk", &goferpb.WalkRequest{Dir: dir, Names: [][]byte{[]byte(name)}}, w)
	if w.GetErrno() != 0 || len(w.GetFiles()) != 1 {
		t.Fatalf("walk %q: %v", name, w)
	}
	return w.Files[0].GetHandle().GetId()
}

func statIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// checkDonatedFD checks that fd is an open (not O_PATH) regular file of
// inode ino with access mode acc.
func checkDonatedFD(t *testing.T, fd int, ino uint64, acc int) {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&unix.O_PATH != 0 || fl&unix.O_ACCMODE != acc {
		t.Errorf("donated fd flags %#x, want access mode %#x and no O_PATH", fl, acc)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != ino {
		t.Errorf("donated fd: mode %#o inode %d, want a regular file of inode %d", st.Mode, st.Ino, ino)
	}
}
