package server

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// postedOpenCall is a posted openat(AT_FDCWD, path, flags) of PID 1 that
// names fd (Syscall.install_fd), its inputs built from m.
func postedOpenCall(m *appMem, path string, flags uint64, fd int32) *sentrypb.Call {
	a := [6]uint64{uint64(atFDCWD64), m.str(path), flags}
	var inputs []*sentrypb.Region
	for _, r := range sysabi.Inputs(unix.SYS_OPENAT, a, m) {
		inputs = append(inputs, &sentrypb.Region{Addr: r.Addr, Data: r.Data})
	}
	return &sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
		Sysno: unix.SYS_OPENAT, Args: a[:], Inputs: inputs, Posted: true, InstallFd: proto.Int32(fd)}}}
}

// fdRecordFile returns the description the fd record of fd among recs
// names (0: none there).
func fdRecordFile(t *testing.T, recs []*sentrypb.StateRecord, fd int32) uint64 {
	t.Helper()
	for _, rec := range recs {
		k, err := statekey.Parse(rec.Key)
		if err == nil && k.Kind == statekey.KindFD && k.FD() == fd && !rec.Deleted {
			return rec.GetFd().GetFile()
		}
	}
	return 0
}

// TestPostedOpenInstallsAtFD: a posted open's description goes at the fd
// the client named, which Reply.opened_file and the fd's record name; an
// fd that is open or beyond RLIMIT_NOFILE fails the open without
// touching the table.
func TestPostedOpenInstallsAtFD(t *testing.T) {
	e := started(t)
	m := e.mem
	if err := os.WriteFile(filepath.Join(e.root, "tmp", "f"), []byte("posted"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		fd        int32
		wantErrno unix.Errno
	}{
		{name: "the lowest free fd", path: "/tmp/f", fd: 3},
		{name: "a free fd above it", path: "/tmp/f", fd: 9},
		{name: "an open fd", path: "/tmp/f", fd: 3, wantErrno: unix.EBUSY},
		{name: "at RLIMIT_NOFILE", path: "/tmp/f", fd: 1024, wantErrno: unix.EMFILE},
		{name: "a file that is gone", path: "/tmp/nope", fd: 4, wantErrno: unix.ENOENT},
		{name: "a directory", path: "/tmp", fd: 5},
	}
	for _, tc := range tests {
		r := e.call(postedOpenCall(m, tc.path, unix.O_RDONLY|unix.O_CLOEXEC, tc.fd))
		if unix.Errno(r.Errno) != tc.wantErrno {
			t.Errorf("%s: errno %v, want %v", tc.name, unix.Errno(r.Errno), tc.wantErrno)
			continue
		}
		if tc.wantErrno != 0 {
			if r.OpenedFile != 0 {
				t.Errorf("%s: a failed open names description %d", tc.name, r.OpenedFile)
			}
			continue
		}
		if r.Ret != int64(tc.fd) || r.OpenedFile == 0 {
			t.Errorf("%s: fd %d, description %d; want fd %d and a description", tc.name, r.Ret, r.OpenedFile, tc.fd)
		}
		if got := fdRecordFile(t, r.State, tc.fd); got != r.OpenedFile {
			t.Errorf("%s: the fd's record names description %d, the reply %d", tc.name, got, r.OpenedFile)
		}
	}
	buf := m.zeros(16)
	if n := e.ok(1, unix.SYS_READ, 3, buf, 16); string(m.bytes(buf, int(n))) != "posted" {
		t.Errorf("read of the posted open's fd: %q", m.bytes(buf, int(n)))
	}
	// The failed opens left the table as it was: the next open takes 4.
	if fd := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/f"), unix.O_RDONLY, 0); fd != 4 {
		t.Errorf("a waited open after the posted ones got fd %d, want 4", fd)
	}
	// O_CLOEXEC was applied: F_GETFD.
	if got := e.ok(1, unix.SYS_FCNTL, 9, unix.F_GETFD); got != unix.FD_CLOEXEC {
		t.Errorf("F_GETFD of the posted open's fd: %d, want FD_CLOEXEC", got)
	}
}

// TestPostedOpenPathLease: a read-only open of a regular gofer file or
// directory that wants a path lease gets one (its success holds while
// the lease does: the client posts the same open later); an open that
// may create, truncate or write, or that opened something other than a
// gofer file or directory, does not.
func TestPostedOpenPathLease(t *testing.T) {
	e := started(t)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true})
	m := l.mem
	if err := os.WriteFile(filepath.Join(e.root, "tmp", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(e.root, "tmp", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		flags     uint64
		wantErrno unix.Errno
		wantLease bool
	}{
		{"read-only", "/tmp/f", unix.O_RDONLY, 0, true},
		{"read-only, close-on-exec, no follow", "/tmp/f", unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_LARGEFILE, 0, true},
		{"a directory", "/tmp", unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NONBLOCK, 0, true},
		{"for writing", "/tmp/f", unix.O_RDWR, 0, false},
		{"creating", "/tmp/g", unix.O_RDONLY | unix.O_CREAT, 0, false},
		{"truncating", "/tmp/f", unix.O_RDONLY | unix.O_TRUNC, 0, false},
		{"O_PATH", "/tmp/f", unix.O_PATH, 0, false},
		{"O_NOATIME", "/tmp/f", unix.O_RDONLY | unix.O_NOATIME, 0, false},
		{"a FIFO (non-blocking)", "/tmp/fifo", unix.O_RDONLY | unix.O_NONBLOCK, 0, false},
		{"/dev/null", "/dev/null", unix.O_RDONLY, 0, false},
		{"/proc/self/status", "/proc/self/status", unix.O_RDONLY, 0, false},
	}
	for _, tc := range tests {
		r := pathSys(l, unix.SYS_OPENAT, uint64(atFDCWD64), m.str(tc.path), tc.flags, 0o644)
		if unix.Errno(r.Errno) != tc.wantErrno {
			t.Errorf("%s: errno %v, want %v", tc.name, unix.Errno(r.Errno), tc.wantErrno)
		}
		if (r.PathLease != nil) != tc.wantLease {
			t.Errorf("%s: path lease %v, want one: %v", tc.name, r.PathLease, tc.wantLease)
		}
		if r.Errno == 0 {
			l.ok(1, unix.SYS_CLOSE, uint64(r.Ret))
		}
	}
}

// TestReplayPostedOpen: a posted open re-sent after a server's death
// installs its description at the fd it named, whether the first
// execution's fd record reached the client's log (it is then replaced)
// or not, and what was read through it before goes on from the same
// offset (the posted lseeks that moved it are re-sent after it).
func TestReplayPostedOpen(t *testing.T) {
	for _, folded := range []bool{false, true} {
		name := "records lost"
		if folded {
			name = "records folded, reply lost"
		}
		t.Run(name, func(t *testing.T) {
			r := newReplayer(t)
			m := r.mem
			r.start()
			if err := os.WriteFile(filepath.Join(r.root, "tmp", "f"), []byte("0123456789"), 0o644); err != nil {
				t.Fatal(err)
			}
			open := postedOpenCall(m, "/tmp/f", unix.O_RDONLY, 3)
			seek := r.syscallCall(1, unix.SYS_LSEEK, 3, 4, unix.SEEK_CUR)
			seek.GetSyscall().Posted = true
			// Both applied; their replies died with the server (and,
			// unless folded, the open's records too).
			if rep := r.call(open, !folded); rep.Errno != 0 || rep.Ret != 3 {
				t.Fatalf("posted open: ret %d errno %v", rep.Ret, unix.Errno(rep.Errno))
			}
			r.call(seek, true)
			r.recover(nil)
			for _, c := range []*sentrypb.Call{open, seek} {
				if rep := r.call(c, false); rep.Errno != 0 {
					t.Fatalf("re-sent seq %d: errno %v", c.Seq, unix.Errno(rep.Errno))
				} else if c == open && (rep.Ret != 3 || rep.OpenedFile == 0) {
					t.Fatalf("re-sent open: fd %d, description %d", rep.Ret, rep.OpenedFile)
				}
			}
			if got := r.readStr(1, 3, 16); got != "456789" {
				t.Errorf("read after the recovery: %q, want %q", got, "456789")
			}
			if fd := r.open("/tmp/f", unix.O_RDONLY); fd != 4 {
				t.Errorf("the next open got fd %d, want 4", fd)
			}
		})
	}
}
