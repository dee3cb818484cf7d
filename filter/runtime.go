package filter

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// runtimeRules are what every daemon needs to be a Go program serving
// gRPC and the framed wire over Unix and TCP sockets, with TLS: the Go
// runtime (threads, memory, signals, timers, the netpoller), the net
// package, and hclog writing to an already open file.
//
// Rule for additions: add here only what any Go daemon makes whatever its
// job; a daemon's own work goes to gofer.go or server.go. Restrict an
// argument when the set of values is small and known (as for clone and
// futex), not otherwise.
func runtimeRules(pid int) seccomp.SyscallRules {
	return seccomp.MakeSyscallRules(map[uintptr]seccomp.SyscallRule{
		// Threads: newosproc's flags only (no fork, no namespaces).
		unix.SYS_CLONE: seccomp.PerArg{
			seccomp.EqualTo(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SETTLS |
				unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD),
		},
		unix.SYS_EXIT:       seccomp.MatchAll{},
		unix.SYS_EXIT_GROUP: seccomp.MatchAll{},
		unix.SYS_FUTEX: seccomp.Or{
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(linux.FUTEX_WAIT | linux.FUTEX_PRIVATE_FLAG)},
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(linux.FUTEX_WAKE | linux.FUTEX_PRIVATE_FLAG)},
		},
		unix.SYS_SCHED_YIELD:       seccomp.MatchAll{},
		unix.SYS_SCHED_GETAFFINITY: seccomp.MatchAll{}, // GOMAXPROCS updates
		unix.SYS_NANOSLEEP:         seccomp.MatchAll{},
		unix.SYS_CLOCK_GETTIME:     seccomp.MatchAll{}, // when the vDSO is not used
		unix.SYS_CLOCK_NANOSLEEP:   seccomp.MatchAll{},
		unix.SYS_GETTIMEOFDAY:      seccomp.MatchAll{},
		unix.SYS_GETPID:            seccomp.MatchAll{},
		unix.SYS_GETTID:            seccomp.MatchAll{},
		unix.SYS_GETRANDOM:         seccomp.MatchAll{}, // crypto/rand, map seeds
		unix.SYS_RESTART_SYSCALL:   seccomp.MatchAll{},
		// Memory. New executable mappings are refused by Build.
		unix.SYS_MMAP:     seccomp.MatchAll{},
		unix.SYS_MUNMAP:   seccomp.MatchAll{},
		unix.SYS_MPROTECT: seccomp.MatchAll{},
		unix.SYS_MADVISE:  seccomp.MatchAll{},
		unix.SYS_MINCORE:  seccomp.MatchAll{},
		// Go names its heap mappings (PR_SET_VMA_ANON_NAME).
		unix.SYS_PRCTL: seccomp.PerArg{seccomp.EqualTo(unix.PR_SET_VMA), seccomp.EqualTo(unix.PR_SET_VMA_ANON_NAME)},
		// Signals: preemption (SIGURG to its own threads), crashes.
		unix.SYS_RT_SIGACTION:   seccomp.MatchAll{},
		unix.SYS_RT_SIGPROCMASK: seccomp.MatchAll{},
		unix.SYS_RT_SIGRETURN:   seccomp.MatchAll{},
		unix.SYS_SIGALTSTACK:    seccomp.MatchAll{},
		unix.SYS_TGKILL:         seccomp.PerArg{seccomp.EqualTo(pid)},
		// CPU profiles (--profile-cpu): per-thread timers.
		unix.SYS_TIMER_CREATE:  seccomp.MatchAll{},
		unix.SYS_TIMER_SETTIME: seccomp.MatchAll{},
		unix.SYS_TIMER_DELETE:  seccomp.MatchAll{},
		unix.SYS_SETITIMER:     seccomp.MatchAll{},
		unix.SYS_GETRUSAGE:     seccomp.MatchAll{}, // pprof's heap profile (max RSS)
		// The netpoller.
		unix.SYS_EPOLL_CREATE1: seccomp.MatchAll{},
		unix.SYS_EPOLL_CTL:     seccomp.MatchAll{},
		unix.SYS_EPOLL_PWAIT:   seccomp.MatchAll{},
		unix.SYS_EPOLL_PWAIT2:  seccomp.MatchAll{},
		unix.SYS_EVENTFD2:      seccomp.MatchAll{},
		// Readiness checks of single fds (gVisor's fdnotifier).
		unix.SYS_PPOLL: seccomp.MatchAll{},
		unix.SYS_POLL:  seccomp.MatchAll{},
		unix.SYS_PIPE2: seccomp.MatchAll{},
		// File descriptors of any kind (the log file, the cgroup files
		// the runtime re-reads for GOMAXPROCS, sockets).
		unix.SYS_READ:     seccomp.MatchAll{},
		unix.SYS_WRITE:    seccomp.MatchAll{},
		unix.SYS_READV:    seccomp.MatchAll{},
		unix.SYS_WRITEV:   seccomp.MatchAll{},
		unix.SYS_PREAD64:  seccomp.MatchAll{},
		unix.SYS_PWRITE64: seccomp.MatchAll{},
		unix.SYS_LSEEK:    seccomp.MatchAll{},
		unix.SYS_CLOSE:    seccomp.MatchAll{},
		unix.SYS_FSTAT:    seccomp.MatchAll{},
		unix.SYS_FCNTL: seccomp.Or{
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(unix.F_GETFL)},
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(unix.F_SETFL)},
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(unix.F_GETFD)},
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(unix.F_SETFD)},
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(unix.F_DUPFD_CLOEXEC)},
		},
		unix.SYS_IOCTL: seccomp.Or{
			// isatty checks of the log's stream.
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(unix.TCGETS)},
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(unix.TIOCINQ)},
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(linux.FIONBIO)},
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(linux.FIOCLEX)},
		},
		// Sockets: listeners, accepted peers (SO_PEERCRED), dials to
		// the gofer, TCP options gRPC sets. Address families are
		// checked per daemon (socketRules).
		unix.SYS_ACCEPT:      seccomp.MatchAll{},
		unix.SYS_ACCEPT4:     seccomp.MatchAll{},
		unix.SYS_BIND:        seccomp.MatchAll{},
		unix.SYS_LISTEN:      seccomp.MatchAll{},
		unix.SYS_CONNECT:     seccomp.MatchAll{},
		unix.SYS_GETSOCKNAME: seccomp.MatchAll{},
		unix.SYS_GETPEERNAME: seccomp.MatchAll{},
		unix.SYS_GETSOCKOPT:  seccomp.MatchAll{},
		unix.SYS_SETSOCKOPT:  seccomp.MatchAll{},
		unix.SYS_SHUTDOWN:    seccomp.MatchAll{},
		unix.SYS_SENDMSG:     seccomp.MatchAll{},
		unix.SYS_RECVMSG:     seccomp.MatchAll{},
		unix.SYS_SENDTO:      seccomp.MatchAll{},
		unix.SYS_RECVFROM:    seccomp.MatchAll{},
		// Leaving: a removed Unix socket on a clean stop.
		unix.SYS_UNLINKAT: seccomp.PerArg{seccomp.AnyValue{}, seccomp.AnyValue{}, seccomp.EqualTo(0)},
	})
}

// socketRules allow socket(2) (and socketpair) only for the given address
// families.
func socketRules(families ...int) seccomp.SyscallRules {
	var or seccomp.Or
	for _, f := range families {
		or = append(or, seccomp.PerArg{seccomp.EqualTo(f)})
	}
	return seccomp.MakeSyscallRules(map[uintptr]seccomp.SyscallRule{
		unix.SYS_SOCKET:     or,
		unix.SYS_SOCKETPAIR: seccomp.PerArg{seccomp.EqualTo(unix.AF_UNIX)},
	})
}
