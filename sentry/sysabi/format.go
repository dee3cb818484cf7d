package sysabi

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// arity is the number of arguments of common system calls, so that a
// trace prints only the arguments a call has.
var arity = map[uintptr]int{
	unix.SYS_READ: 3, unix.SYS_WRITE: 3, unix.SYS_OPEN: 3, unix.SYS_CLOSE: 1,
	unix.SYS_STAT: 2, unix.SYS_FSTAT: 2, unix.SYS_LSTAT: 2, unix.SYS_POLL: 3,
	unix.SYS_LSEEK: 3, unix.SYS_MMAP: 6, unix.SYS_MPROTECT: 3, unix.SYS_MUNMAP: 2,
	unix.SYS_BRK: 1, unix.SYS_RT_SIGACTION: 4, unix.SYS_RT_SIGPROCMASK: 4,
	unix.SYS_RT_SIGRETURN: 0, unix.SYS_IOCTL: 3, unix.SYS_PREAD64: 4,
	unix.SYS_PWRITE64: 4, unix.SYS_READV: 3, unix.SYS_WRITEV: 3, unix.SYS_ACCESS: 2,
	unix.SYS_PIPE: 1, unix.SYS_SELECT: 5, unix.SYS_SCHED_YIELD: 0, unix.SYS_MREMAP: 5,
	unix.SYS_MSYNC: 3, unix.SYS_MADVISE: 3, unix.SYS_DUP: 1, unix.SYS_DUP2: 2,
	unix.SYS_PAUSE: 0, unix.SYS_NANOSLEEP: 2, unix.SYS_GETPID: 0, unix.SYS_SENDFILE: 4,
	unix.SYS_CLONE: 5, unix.SYS_CLONE3: 2, unix.SYS_FORK: 0, unix.SYS_VFORK: 0, unix.SYS_EXECVE: 3,
	unix.SYS_EXIT: 1, unix.SYS_WAIT4: 4, unix.SYS_KILL: 2, unix.SYS_UNAME: 1,
	unix.SYS_FCNTL: 3, unix.SYS_FLOCK: 2, unix.SYS_FSYNC: 1, unix.SYS_FDATASYNC: 1, unix.SYS_CLOSE_RANGE: 3,
	unix.SYS_SYNC_FILE_RANGE: 4, unix.SYS_READAHEAD: 3,
	unix.SYS_TRUNCATE: 2, unix.SYS_FTRUNCATE: 2, unix.SYS_GETDENTS64: 3,
	unix.SYS_GETCWD: 2, unix.SYS_CHDIR: 1, unix.SYS_FCHDIR: 1, unix.SYS_CHROOT: 1, unix.SYS_RENAME: 2,
	unix.SYS_MKDIR: 2, unix.SYS_RMDIR: 1, unix.SYS_CREAT: 2, unix.SYS_LINK: 2,
	unix.SYS_UNLINK: 1, unix.SYS_SYMLINK: 2, unix.SYS_READLINK: 3, unix.SYS_CHMOD: 2,
	unix.SYS_FCHMOD: 2, unix.SYS_CHOWN: 3, unix.SYS_FCHOWN: 3, unix.SYS_LCHOWN: 3,
	unix.SYS_UMASK: 1, unix.SYS_GETTIMEOFDAY: 2, unix.SYS_GETRLIMIT: 2,
	unix.SYS_GETUID: 0, unix.SYS_GETGID: 0, unix.SYS_SETUID: 1, unix.SYS_SETGID: 1,
	unix.SYS_GETEUID: 0, unix.SYS_GETEGID: 0, unix.SYS_SETPGID: 2, unix.SYS_GETPPID: 0,
	unix.SYS_GETPGRP: 0, unix.SYS_SETSID: 0, unix.SYS_GETPGID: 1, unix.SYS_GETSID: 1,
	unix.SYS_ARCH_PRCTL: 2, unix.SYS_SET_TID_ADDRESS: 1, unix.SYS_EXIT_GROUP: 1,
	unix.SYS_TGKILL: 3, unix.SYS_TKILL: 2, unix.SYS_OPENAT: 4, unix.SYS_MKDIRAT: 3,
	unix.SYS_NEWFSTATAT: 4, unix.SYS_UNLINKAT: 3, unix.SYS_RENAMEAT: 4,
	unix.SYS_LINKAT: 5, unix.SYS_SYMLINKAT: 3, unix.SYS_READLINKAT: 4,
	unix.SYS_FCHMODAT: 3, unix.SYS_FCHMODAT2: 4, unix.SYS_FACCESSAT: 3, unix.SYS_FACCESSAT2: 4,
	unix.SYS_PSELECT6: 6, unix.SYS_PPOLL: 5, unix.SYS_SET_ROBUST_LIST: 2,
	unix.SYS_UTIMENSAT: 4, unix.SYS_PIPE2: 2, unix.SYS_DUP3: 3, unix.SYS_PRLIMIT64: 4,
	unix.SYS_GETRANDOM: 3, unix.SYS_STATX: 5, unix.SYS_CLOCK_GETTIME: 2,
	unix.SYS_CLOCK_GETRES: 2, unix.SYS_CLOCK_NANOSLEEP: 4, unix.SYS_FUTEX: 6,
	unix.SYS_STATFS: 2, unix.SYS_FSTATFS: 2, unix.SYS_SYNC: 0, unix.SYS_SYNCFS: 1,
	unix.SYS_RENAMEAT2: 5, unix.SYS_WAITID: 5, unix.SYS_SYSINFO: 1, unix.SYS_TIMES: 1,
	unix.SYS_SIGALTSTACK: 2, unix.SYS_RT_SIGSUSPEND: 2, unix.SYS_PRCTL: 5,
	unix.SYS_SETRLIMIT: 2, unix.SYS_FADVISE64: 4, unix.SYS_GETTID: 0, unix.SYS_TIME: 1,
	unix.SYS_SCHED_GETAFFINITY: 3, unix.SYS_MINCORE: 3, unix.SYS_EXECVEAT: 5,
	unix.SYS_RT_SIGPENDING: 2, unix.SYS_RT_SIGTIMEDWAIT: 4, unix.SYS_GETCPU: 3,
	unix.SYS_ALARM: 1, unix.SYS_SETITIMER: 3, unix.SYS_GETITIMER: 2,
	unix.SYS_TIMER_CREATE: 3, unix.SYS_TIMER_SETTIME: 4, unix.SYS_TIMER_GETTIME: 2,
	unix.SYS_TIMER_GETOVERRUN: 1, unix.SYS_TIMER_DELETE: 1, unix.SYS_GETRUSAGE: 2,
	unix.SYS_PIDFD_OPEN: 2, unix.SYS_PIDFD_SEND_SIGNAL: 4, unix.SYS_PIDFD_GETFD: 3,
	unix.SYS_KCMP: 5, unix.SYS_UNSHARE: 1,
}

// maxTraceData bounds how much of a buffer or path a trace shows.
const maxTraceData = 64

// Format renders a system call as strace does: its name, its arguments
// (paths and written data quoted from inputs, the rest in hex) and, when
// known, its result.
func Format(sysno uintptr, args [6]uint64, inputs []Region) string {
	n, ok := arity[sysno]
	if !ok {
		n = 6
	}
	shown := map[int]input{}
	for _, in := range inputSpecs[sysno] {
		if in.kind == kindString || (in.kind == kindBuf && in.size == 1) {
			shown[in.arg] = in
		}
	}
	var b strings.Builder
	b.WriteString(Name(sysno))
	b.WriteByte('(')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		in, ok := shown[i]
		data := regionAt(inputs, args[i])
		switch {
		case ok && data != nil && in.kind == kindString:
			if k := strings.IndexByte(string(data), 0); k >= 0 {
				data = data[:k]
			}
			b.WriteString(quote(data))
		case ok && data != nil && in.kind == kindBuf:
			if l := args[in.lenArg]; uint64(len(data)) > l {
				data = data[:l]
			}
			b.WriteString(quote(data))
		case i == 0 && int32(args[0]) == unix.AT_FDCWD && strings.HasSuffix(Name(sysno), "at"):
			b.WriteString("AT_FDCWD")
		default:
			fmt.Fprintf(&b, "%#x", args[i])
		}
	}
	b.WriteByte(')')
	return b.String()
}

// regionAt returns the input bytes starting at addr, or nil.
func regionAt(inputs []Region, addr uint64) []byte {
	if addr == 0 {
		return nil
	}
	for _, r := range inputs {
		if addr >= r.Addr && addr < r.Addr+uint64(len(r.Data)) {
			return r.Data[addr-r.Addr:]
		}
	}
	return nil
}

func quote(b []byte) string {
	if len(b) > maxTraceData {
		return strconv.Quote(string(b[:maxTraceData])) + "..."
	}
	return strconv.Quote(string(b))
}
