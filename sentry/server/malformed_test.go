package server

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// rawSys sends a system call with exactly the given inputs.
func (e *env) rawSys(tid int32, sysno uintptr, inputs []*sentrypb.Region, args ...uint64) *sentrypb.Reply {
	return e.call(&sentrypb.Call{Tid: tid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: int32(sysno), Args: args, Inputs: inputs}}})
}

func TestMalformedInput(t *testing.T) {
	e := started(t)
	m := e.mem
	unterminated := []*sentrypb.Region{{Addr: 0x5000, Data: []byte("/tmp/abc")}}
	bigRegion := []*sentrypb.Region{{Addr: 0x5000, Data: make([]byte, 64)}}
	for _, tc := range []struct {
		name   string
		sysno  uintptr
		args   []uint64
		inputs []*sentrypb.Region
		want   unix.Errno
	}{
		{"write without its buffer", unix.SYS_WRITE, []uint64{1, 0x5000, 10}, nil, unix.EFAULT},
		{"write huge count", unix.SYS_WRITE, []uint64{1, 0x5000, 1 << 62}, bigRegion, unix.EFAULT},
		{"write negative count", unix.SYS_WRITE, []uint64{1, 0x5000, ^uint64(0)}, bigRegion, unix.EINVAL},
		{"read into NULL", unix.SYS_READ, []uint64{0, 0, 10}, nil, unix.EFAULT},
		{"read unknown fd", unix.SYS_READ, []uint64{1 << 30, 0x5000, 10}, nil, unix.EBADF},
		{"read negative fd", unix.SYS_READ, []uint64{^uint64(0), 0x5000, 10}, nil, unix.EBADF},
		{"open unterminated path", unix.SYS_OPEN, []uint64{0x5000, 0, 0}, unterminated, unix.EFAULT},
		{"open NULL path", unix.SYS_OPEN, []uint64{0, 0, 0}, nil, unix.EFAULT},
		{"open bad accmode", unix.SYS_OPEN, []uint64{0x5000, 3, 0}, []*sentrypb.Region{{Addr: 0x5000, Data: []byte("/\x00")}}, unix.EINVAL},
		{"openat bad dirfd", unix.SYS_OPENAT, []uint64{55, 0x5000, 0, 0}, []*sentrypb.Region{{Addr: 0x5000, Data: []byte("x\x00")}}, unix.EBADF},
		{"readv too many iovecs", unix.SYS_READV, []uint64{0, 0x5000, 1 << 20}, nil, unix.EINVAL},
		{"writev missing iovecs", unix.SYS_WRITEV, []uint64{1, 0x5000, 4}, nil, unix.EFAULT},
		{"writev iovec to nowhere", unix.SYS_WRITEV, []uint64{1, 0x5000, 1}, []*sentrypb.Region{{Addr: 0x5000, Data: []byte{0, 0x10, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0}}}, unix.EFAULT},
		{"dup2 negative", unix.SYS_DUP2, []uint64{1, ^uint64(0)}, nil, unix.EBADF},
		{"dup3 bad flags", unix.SYS_DUP3, []uint64{1, 7, 1}, nil, unix.EINVAL},
		{"fcntl bad cmd", unix.SYS_FCNTL, []uint64{1, 9999, 0}, nil, unix.EINVAL},
		{"fcntl F_DUPFD out of range", unix.SYS_FCNTL, []uint64{1, unix.F_DUPFD, 5000}, nil, unix.EINVAL},
		{"fcntl F_SETLK without flock", unix.SYS_FCNTL, []uint64{1, unix.F_SETLK, 0x5000}, nil, unix.EFAULT},
		{"rt_sigaction signal 0", unix.SYS_RT_SIGACTION, []uint64{0, 0, 0, 8}, nil, unix.EINVAL},
		{"rt_sigaction missing act", unix.SYS_RT_SIGACTION, []uint64{10, 0x5000, 0, 8}, nil, unix.EFAULT},
		{"wait4 bad options", unix.SYS_WAIT4, []uint64{^uint64(0), 0, 0x1000, 0}, nil, unix.EINVAL},
		{"wait4 INT_MIN", unix.SYS_WAIT4, []uint64{0x80000000, 0, 0, 0}, nil, unix.ESRCH},
		{"kill bad signal", unix.SYS_KILL, []uint64{1, 1000}, nil, unix.EINVAL},
		{"kill missing pid", unix.SYS_KILL, []uint64{4242, 0}, nil, unix.ESRCH},
		{"tgkill wrong group", unix.SYS_TGKILL, []uint64{7, 1, 0}, nil, unix.ESRCH},
		{"poll too many fds", unix.SYS_POLL, []uint64{0x5000, 1 << 40, 0}, nil, unix.EINVAL},
		{"poll missing fds", unix.SYS_POLL, []uint64{0x5000, 2, 0}, nil, unix.EFAULT},
		{"select negative nfds", unix.SYS_SELECT, []uint64{^uint64(0), 0, 0, 0, 0}, nil, unix.EINVAL},
		{"select bad fd", unix.SYS_SELECT, []uint64{64, 0x5000, 0, 0, 0}, []*sentrypb.Region{{Addr: 0x5000, Data: []byte{0, 0, 0, 0, 0, 0, 0, 0x80}}}, unix.EBADF},
		{"getdents count 0", unix.SYS_GETDENTS64, []uint64{0, 0x5000, 0}, nil, unix.ENOTDIR},
		{"execve bad argv", unix.SYS_EXECVE, []uint64{0x5000, 0x9000, 0}, []*sentrypb.Region{{Addr: 0x5000, Data: []byte("/bin/busybox\x00")}}, unix.EFAULT},
		{"clone thread without sighand", unix.SYS_CLONE, []uint64{unix.CLONE_THREAD}, nil, unix.EINVAL},
		{"semop without its sembufs", unix.SYS_SEMOP, []uint64{0, 0x5000, 1}, nil, unix.EFAULT},
		{"semop 2^32 sembufs", unix.SYS_SEMOP, []uint64{0, 0x5000, 1 << 32}, nil, unix.EINVAL},
		{"semop too many sembufs", unix.SYS_SEMOP, []uint64{0, 0x5000, 501}, nil, unix.E2BIG},
		{"semtimedop bad timeout", unix.SYS_SEMTIMEDOP, []uint64{0, 0x5000, 1, 0x5008}, []*sentrypb.Region{{Addr: 0x5000, Data: append(make([]byte, 16), 0, 0x94, 0x35, 0x77, 0, 0, 0, 0)}}, unix.EINVAL},
		{"semctl bad command", unix.SYS_SEMCTL, []uint64{0, 0, 999, 0}, nil, unix.EINVAL},
		{"msgsnd huge size", unix.SYS_MSGSND, []uint64{0, 0x5000, 1 << 62, 0}, []*sentrypb.Region{{Addr: 0x5000, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0}}}, unix.EINVAL},
		{"msgsnd without its text", unix.SYS_MSGSND, []uint64{0, 0x5000, 100, 0}, []*sentrypb.Region{{Addr: 0x5000, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0}}}, unix.EFAULT},
		{"msgrcv negative size", unix.SYS_MSGRCV, []uint64{0, 0x5000, ^uint64(0), 0, 0}, nil, unix.EINVAL},
		{"shmat unaligned", unix.SYS_SHMAT, []uint64{0, 0x5001, 0}, nil, unix.EINVAL},
		{"shmdt of nothing", unix.SYS_SHMDT, []uint64{0x5000, 0}, nil, unix.EINVAL},
		{"shmctl negative id", unix.SYS_SHMCTL, []uint64{^uint64(0), 2, 0x5000}, nil, unix.EINVAL},
		{"clone new namespace", unix.SYS_CLONE, []uint64{unix.CLONE_NEWPID}, nil, unix.EINVAL},
		{"lseek on a pipe-like stdio", unix.SYS_LSEEK, []uint64{1, 0, 0}, nil, unix.ESPIPE},
		{"pread on stdio", unix.SYS_PREAD64, []uint64{0, 0x5000, 1, 0}, nil, unix.ESPIPE},
		{"mmap anonymous", unix.SYS_MMAP, []uint64{0, 4096, 1, 0x22, ^uint64(0), 0}, nil, unix.EINVAL},
		{"pipe2 bad flags", unix.SYS_PIPE2, []uint64{0x5000, 1}, nil, unix.EINVAL},
		{"getcwd NULL", unix.SYS_GETCWD, []uint64{0, 100}, nil, unix.EFAULT},
		{"utimensat bad nsec", unix.SYS_UTIMENSAT, []uint64{atFDCWD64, 0, 0x5000, 0}, []*sentrypb.Region{{Addr: 0x5000, Data: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}, unix.EINVAL},
		{"too long path", unix.SYS_STAT, []uint64{0x5000, 0x6000}, []*sentrypb.Region{{Addr: 0x5000, Data: append([]byte("/"+strings.Repeat("a", 5000)), 0)}}, unix.ENAMETOOLONG},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.rawSys(1, tc.sysno, tc.inputs, tc.args...)
			if unix.Errno(r.Errno) != tc.want {
				t.Errorf("got ret %d errno %v, want %v", r.Ret, unix.Errno(r.Errno), tc.want)
			}
		})
	}
	// Messages missing their parts.
	if r := e.call(&sentrypb.Call{Tid: 1}); r.Errno != int32(unix.EINVAL) {
		t.Errorf("call without op: %v", r)
	}
	if r := e.call(&sentrypb.Call{Tid: 77, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: unix.SYS_GETPID}}}); r.Errno != int32(unix.ESRCH) {
		t.Errorf("unknown tid: %v", r)
	}
	if r := e.call(&sentrypb.Call{Op: &sentrypb.Call_PageRead{}}); r.Errno != int32(unix.EBADF) {
		t.Errorf("nil PageRead: %v", r)
	}
	if r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Start{}}); r.Errno != int32(unix.EINVAL) {
		t.Errorf("nil Start: %v", r)
	}
	// Still alive.
	e.ok(1, unix.SYS_GETPID)
	_ = m
}

// TestFileOfWrongKind checks the errno of a call given a file of another
// kind than it works on, and of an O_PATH descriptor, which Linux's fdget
// refuses (EBADF) before the call looks at what the file is.
func TestFileOfWrongKind(t *testing.T) {
	e := started(t)
	regular := e.open("/", unix.O_RDONLY|unix.O_DIRECTORY)
	path := e.open("/", unix.O_PATH)
	for _, tc := range []struct {
		name  string
		sysno uintptr
		args  func(fd uint64) []uint64
		want  [2]unix.Errno // for the directory, for the O_PATH fd
	}{
		{"timerfd_gettime", unix.SYS_TIMERFD_GETTIME, func(fd uint64) []uint64 { return []uint64{fd, e.mem.zeros(32)} }, [2]unix.Errno{unix.EINVAL, unix.EBADF}},
		{"inotify_add_watch", unix.SYS_INOTIFY_ADD_WATCH, func(fd uint64) []uint64 { return []uint64{fd, e.mem.str("/"), unix.IN_ALL_EVENTS} }, [2]unix.Errno{unix.EINVAL, unix.EBADF}},
		{"listen", unix.SYS_LISTEN, func(fd uint64) []uint64 { return []uint64{fd, 1} }, [2]unix.Errno{unix.ENOTSOCK, unix.EBADF}},
		{"shutdown", unix.SYS_SHUTDOWN, func(fd uint64) []uint64 { return []uint64{fd, 0} }, [2]unix.Errno{unix.ENOTSOCK, unix.EBADF}},
	} {
		for i, fd := range []uint64{regular, path} {
			if r := e.sys(1, tc.sysno, tc.args(fd)...); unix.Errno(r.Errno) != tc.want[i] {
				t.Errorf("%s on fd %d: ret %d errno %v, want %v", tc.name, fd, r.Ret, unix.Errno(r.Errno), tc.want[i])
			}
		}
	}
}
