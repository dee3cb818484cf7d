package filter

import (
	"os"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// atFDCWD matches AT_FDCWD as a system call's int argument: its low 32
// bits (Go's syscall package sign-extends it, the runtime's own open
// zero-extends it; the kernel reads an int).
var atFDCWD = seccomp.MaskedEqual(0xffffffff, 0xffffff9c)

// ServerRules are the system calls the server may make once it serves:
// the Go runtime's (runtime.go) and little else. The server emulates the
// application's system calls in its own memory and reaches files only
// through the gofer, so the application's calls do not belong here.
//
// Rule for additions: only what the server's own code issues on the host.
// A feature that makes the server issue an application's call on the
// host (host networking) adds the calls it makes, as narrowly as it can,
// and the e2e tests of that feature run under this filter.
func ServerRules() seccomp.SyscallRules {
	r := runtimeRules(os.Getpid())
	// AF_NETLINK: Go's net package lists interfaces through it, and
	// --network=host passes the application's RTM_GET* requests on.
	r.Merge(socketRules(unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK))
	// --network=host: the interface ioctls that only read (SIOCGIF*).
	var ifreq seccomp.Or
	for _, req := range []uintptr{0x8910, 0x8913, 0x8915, 0x8919, 0x891b, 0x891d, 0x8921, 0x8927, 0x8933, 0x8942} {
		ifreq = append(ifreq, seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(req)})
	}
	r.Merge(seccomp.MakeSyscallRules(map[uintptr]seccomp.SyscallRule{unix.SYS_IOCTL: ifreq}))
	r.Merge(seccomp.MakeSyscallRules(map[uintptr]seccomp.SyscallRule{
		// Read-only opens: Go's resolver (/etc/hosts, resolv.conf) for
		// a gofer named by host name, time zone data. Never a write,
		// create or truncate, and only from the working directory: never
		// relative to an fd, such as one the gofer donated (a regular
		// file's, which serves pread, pwrite, pwritev, statx and close
		// only).
		unix.SYS_OPENAT: seccomp.PerArg{
			atFDCWD,
			seccomp.AnyValue{},
			seccomp.MaskedEqual(unix.O_ACCMODE|unix.O_CREAT|unix.O_TRUNC|unix.O_APPEND, 0),
		},
		// Rewriting --profile-heap's files (opened at start) on SIGUSR2.
		unix.SYS_FTRUNCATE:  seccomp.MatchAll{},
		unix.SYS_NEWFSTATAT: seccomp.MatchAll{},
		unix.SYS_STATX:      seccomp.MatchAll{},
		unix.SYS_UNAME:      seccomp.MatchAll{},
		// A donated fd's writes ahead (sentry/server/donated/ahead.go):
		// a run of a thread's posted writes in one call.
		unix.SYS_PWRITEV: seccomp.MatchAll{},
	}))
	r.Merge(callChannelRules())
	return r
}

// callChannelRules are the calls of flipcall call channels: the
// Session's (transport/hop.go, the server's end) and the Calls stream's
// (transport/callchan.go, the gofer's end): a sealed memfd per channel,
// and flipcall's shared (not private) futex in its window.
func callChannelRules() seccomp.SyscallRules {
	return seccomp.MakeSyscallRules(map[uintptr]seccomp.SyscallRule{
		unix.SYS_MEMFD_CREATE: seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING)},
		unix.SYS_FCNTL: seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(unix.F_ADD_SEALS),
			seccomp.EqualTo(unix.F_SEAL_SHRINK | unix.F_SEAL_SEAL)},
		unix.SYS_FUTEX: seccomp.Or{
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(linux.FUTEX_WAIT)},
			seccomp.PerArg{seccomp.AnyValue{}, seccomp.EqualTo(linux.FUTEX_WAKE)},
		},
	})
}
