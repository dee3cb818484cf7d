package server

import (
	"encoding/binary"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
)

// TestFDTableLimits: fds above 1024 up to nr_open, the errnos of dup2,
// dup3 and F_DUPFD at the limit, and a high fd costing one entry.
func TestFDTableLimits(t *testing.T) {
	tab := newFDTable(nil, nil)
	newf := func() *file { return epoll.New(0) }
	for i := 0; i < 3; i++ {
		if _, err := tab.install(newf(), 0, false); err != nil {
			t.Fatal(err)
		}
	}
	type step struct {
		name    string
		do      func() (int32, error)
		want    int32
		wantErr error
	}
	install := func(min int32) func() (int32, error) {
		return func() (int32, error) { return tab.install(newf(), min, false) }
	}
	dup2 := func(fd int32) func() (int32, error) {
		return func() (int32, error) {
			old, err := tab.installAt(fd, newf(), false, false)
			if old != nil {
				old.DecRef()
			}
			return fd, err
		}
	}
	limit := func(n int32) func() (int32, error) {
		return func() (int32, error) { tab.setLimit(n); return 0, nil }
	}
	for _, s := range []step{
		{"lowest free", install(0), 3, nil},
		{"F_DUPFD at the default limit", install(defaultNofile), -1, unix.EINVAL},
		{"dup2 at the default limit", dup2(defaultNofile), -1, unix.EBADF},
		{"raise to nr_open", limit(nrOpen), 0, nil},
		{"dup2 to 1000000", dup2(1000000), 1000000, nil},
		{"F_DUPFD from nr_open-1", install(nrOpen - 1), nrOpen - 1, nil},
		{"F_DUPFD from nr_open-1 again: full", install(nrOpen - 1), -1, unix.EMFILE},
		{"F_DUPFD at nr_open", install(nrOpen), -1, unix.EINVAL},
		{"dup2 at nr_open", dup2(nrOpen), -1, unix.EBADF},
		{"F_DUPFD above 1024", install(2000), 2000, nil},
		{"lower to 100", limit(100), 0, nil},
		{"dup2 at the lowered limit", dup2(100), -1, unix.EBADF},
		{"dup2 below it", dup2(99), 99, nil},
		{"F_DUPFD at the lowered limit", install(100), -1, unix.EINVAL},
	} {
		got, err := s.do()
		if err != s.wantErr || (err == nil && got != s.want) {
			t.Errorf("%s: %d, %v; want %d, %v", s.name, got, err, s.want, s.wantErr)
		}
	}
	// fds above the lowered limit stay usable, in order, and cost one
	// entry each.
	want := []int32{0, 1, 2, 3, 99, 2000, 1000000, nrOpen - 1}
	if got := tab.list(); !slices.Equal(got, want) {
		t.Errorf("list %v, want %v", got, want)
	}
	if f, _, err := tab.get(1000000); err != nil {
		t.Errorf("get 1000000: %v", err)
	} else {
		f.DecRef()
	}
	if len(tab.fds) > denseFDs || len(tab.high) != 3 {
		t.Errorf("table of %d dense and %d high entries", len(tab.fds), len(tab.high))
	}
	child := tab.fork()
	if got := child.list(); !slices.Equal(got, want) {
		t.Errorf("fork: list %v, want %v", got, want)
	}
	if f, err := child.remove(1000000); err != nil {
		t.Errorf("remove 1000000: %v", err)
	} else {
		f.DecRef()
	}
	if _, err := child.remove(1000000); err != unix.EBADF {
		t.Errorf("remove 1000000 twice: %v, want EBADF", err)
	}
	if n := len(tab.list()); n != len(want) {
		t.Errorf("parent lost fds to the child's close: %d", n)
	}
	// Filling a large table is not quadratic: the free-slot hint.
	big := newFDTable(nil, nil)
	big.setLimit(200000)
	f := newf()
	for i := 0; i < 200000; i++ {
		f.IncRef()
		if _, err := big.install(f, 0, false); err != nil {
			t.Fatalf("install %d: %v", i, err)
		}
	}
	f.IncRef()
	if _, err := big.install(f, 0, false); err != unix.EMFILE {
		t.Errorf("install into a full table: %v, want EMFILE", err)
	}
	if old, err := big.remove(150000); err != nil || old == nil {
		t.Fatal(err)
	}
	f.IncRef()
	if fd, err := big.install(f, 0, false); fd != 150000 || err != nil {
		t.Errorf("install after close(150000): %d %v", fd, err)
	}
}

// TestHighFDsSurviveRestore: fds far above 1024, one of them above a
// limit lowered after it was opened, and the limit itself come back
// after the server is replaced.
func TestHighFDsSurviveRestore(t *testing.T) {
	r := newReplayer(t)
	r.start()
	setNofile := func(n uint64) {
		lim := make([]byte, 16)
		binary.LittleEndian.PutUint64(lim, n)
		binary.LittleEndian.PutUint64(lim[8:], n)
		c := r.syscallCall(1, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, 0x1000, 0)
		c.GetSyscall().Inputs = append(c.GetSyscall().Inputs, &sentrypb.Region{Addr: 0x1000, Data: lim})
		if rep := r.call(c, false); rep.Errno != 0 {
			t.Fatalf("prlimit64: %v", unix.Errno(rep.Errno))
		}
	}
	setNofile(nrOpen)
	fd := r.open("/tmp/high", unix.O_CREAT|unix.O_RDWR)
	r.write(1, fd, "high fd data", nil)
	r.ok(1, unix.SYS_DUP2, fd, 1000000)
	r.ok(1, unix.SYS_DUP2, fd, 5000)
	r.ok(1, unix.SYS_CLOSE, fd)
	setNofile(2000)

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	r.ok(1, unix.SYS_LSEEK, 1000000, 0, unix.SEEK_SET)
	if got := r.readStr(1, 1000000, 64); got != "high fd data" {
		t.Errorf("fd 1000000 after restore reads %q", got)
	}
	if got := r.ok(1, unix.SYS_LSEEK, 5000, 0, unix.SEEK_CUR); got != 12 {
		t.Errorf("fd 5000 (sharing the description) at offset %d, want 12", got)
	}
	if rep := r.sys(1, unix.SYS_DUP2, 0, 2000); unix.Errno(rep.Errno) != unix.EBADF {
		t.Errorf("dup2 at the restored limit: errno %v, want EBADF", unix.Errno(rep.Errno))
	}
	if got := r.ok(1, unix.SYS_DUP2, 0, 1999); got != 1999 {
		t.Errorf("dup2 below the restored limit: %d", got)
	}
}
