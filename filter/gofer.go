package filter

import (
	"os"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// GoferRules are the system calls the gofer may make once it serves: the
// Go runtime's (runtime.go) and the file operations it performs on the
// served tree for its servers (gofer/).
//
// Rule for additions: a new gofer operation adds the host calls it makes
// here, with argument checks when the gofer always passes the same flags.
func GoferRules() seccomp.SyscallRules {
	r := runtimeRules(os.Getpid())
	r.Merge(socketRules(unix.AF_UNIX, unix.AF_INET, unix.AF_INET6))
	r.Merge(seccomp.MakeSyscallRules(map[uintptr]seccomp.SyscallRule{
		// Walking, opening, reopening by handle (needs
		// CAP_DAC_READ_SEARCH, which the gofer keeps).
		unix.SYS_OPENAT:            seccomp.MatchAll{},
		unix.SYS_OPENAT2:           seccomp.MatchAll{},
		unix.SYS_OPEN_BY_HANDLE_AT: seccomp.MatchAll{},
		unix.SYS_NAME_TO_HANDLE_AT: seccomp.MatchAll{},
		unix.SYS_DUP:               seccomp.MatchAll{},
		unix.SYS_DUP3:              seccomp.MatchAll{},
		unix.SYS_READLINKAT:        seccomp.MatchAll{},
		unix.SYS_GETDENTS64:        seccomp.MatchAll{},
		// Metadata.
		unix.SYS_STATX:      seccomp.MatchAll{},
		unix.SYS_NEWFSTATAT: seccomp.MatchAll{},
		unix.SYS_FSTATFS:    seccomp.MatchAll{},
		unix.SYS_STATFS:     seccomp.MatchAll{},
		unix.SYS_FCHMOD:     seccomp.MatchAll{},
		unix.SYS_FCHMODAT:   seccomp.MatchAll{},
		unix.SYS_FCHMODAT2:  seccomp.MatchAll{},
		unix.SYS_FCHOWN:     seccomp.MatchAll{},
		unix.SYS_FCHOWNAT:   seccomp.MatchAll{},
		unix.SYS_UTIMENSAT:  seccomp.MatchAll{},
		unix.SYS_TRUNCATE:   seccomp.MatchAll{}, // through /proc/self/fd
		unix.SYS_FTRUNCATE:  seccomp.MatchAll{},
		unix.SYS_FALLOCATE:  seccomp.MatchAll{},
		unix.SYS_UMASK:      seccomp.MatchAll{},
		// Directory entries.
		unix.SYS_MKDIRAT:   seccomp.MatchAll{},
		unix.SYS_MKNODAT:   seccomp.MatchAll{},
		unix.SYS_SYMLINKAT: seccomp.MatchAll{},
		unix.SYS_LINKAT:    seccomp.MatchAll{},
		unix.SYS_RENAMEAT:  seccomp.MatchAll{},
		unix.SYS_RENAMEAT2: seccomp.MatchAll{},
		// Removing directories too (runtimeRules allows flags 0 only).
		unix.SYS_UNLINKAT: seccomp.PerArg{seccomp.AnyValue{}, seccomp.AnyValue{}, seccomp.EqualTo(unix.AT_REMOVEDIR)},
		// Durability.
		unix.SYS_FSYNC:           seccomp.MatchAll{},
		unix.SYS_FDATASYNC:       seccomp.MatchAll{},
		unix.SYS_SYNC_FILE_RANGE: seccomp.MatchAll{},
		unix.SYS_SYNCFS:          seccomp.MatchAll{}, // a batch of fsyncs on one file system
		// Extended attributes.
		unix.SYS_FGETXATTR:    seccomp.MatchAll{},
		unix.SYS_FSETXATTR:    seccomp.MatchAll{},
		unix.SYS_FLISTXATTR:   seccomp.MatchAll{},
		unix.SYS_FREMOVEXATTR: seccomp.MatchAll{},
		unix.SYS_LGETXATTR:    seccomp.MatchAll{},
		unix.SYS_LSETXATTR:    seccomp.MatchAll{},
		unix.SYS_LLISTXATTR:   seccomp.MatchAll{},
		unix.SYS_LREMOVEXATTR: seccomp.MatchAll{},
		// The sandbox's set-id bits (gofer/setid.go) and user. attributes
		// (gofer/xattr.go): through an O_PATH fd's /proc/self/fd link,
		// or by name in a directory.
		unix.SYS_GETXATTR:    seccomp.MatchAll{},
		unix.SYS_SETXATTR:    seccomp.MatchAll{},
		unix.SYS_LISTXATTR:   seccomp.MatchAll{},
		unix.SYS_REMOVEXATTR: seccomp.MatchAll{},
		unix.SYS_GETXATTRAT:  seccomp.MatchAll{},
	}))
	// Its ends of the server's call channels.
	r.Merge(callChannelRules())
	return r
}
