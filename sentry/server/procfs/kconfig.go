package procfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// kconfigOption is one line of the sandbox's kernel configuration.
type kconfigOption struct {
	name string
	// set says the sandbox has the feature ("=y"); otherwise the line is
	// "# CONFIG_X is not set", which a reader takes as absent.
	set bool
}

// kernelConfig describes the kernel the sandbox is, not the host's:
// /proc/config.gz is how programs (LTP's tst_kconfig, for one) ask whether
// a feature was built in before they test it, so every line must stay
// true of the two sentries together. An option set here names a feature
// the sandbox implements (docs/COMPATIBILITY.md); one not set, a feature
// programs test for that it lacks (its calls fail with ENOSYS or
// EINVAL). Options absent from the list read as not set too. The e2e
// test TestKernelConfig probes each option with a system call and fails
// when the probe and this list disagree.
var kernelConfig = []kconfigOption{
	{"CONFIG_64BIT", true},
	{"CONFIG_X86_64", true},
	{"CONFIG_X86", true},
	{"CONFIG_MMU", true},
	{"CONFIG_MULTIUSER", true},
	{"CONFIG_FUTEX", true},
	{"CONFIG_POSIX_TIMERS", true},
	{"CONFIG_ADVISE_SYSCALLS", true},
	{"CONFIG_CROSS_MEMORY_ATTACH", true},
	{"CONFIG_FILE_LOCKING", true},
	{"CONFIG_EPOLL", true},
	{"CONFIG_SIGNALFD", true},
	{"CONFIG_TIMERFD", true},
	{"CONFIG_EVENTFD", true},
	{"CONFIG_INOTIFY_USER", true},
	{"CONFIG_SHMEM", true},
	{"CONFIG_TMPFS", true},
	{"CONFIG_MEMFD_CREATE", true},
	{"CONFIG_SYSVIPC", true},
	{"CONFIG_PROC_FS", true},
	{"CONFIG_PROC_SYSCTL", true},
	{"CONFIG_UNIX98_PTYS", true},
	{"CONFIG_NET", true},
	{"CONFIG_UNIX", true},
	{"CONFIG_INET", true},
	{"CONFIG_IPV6", true},
	{"CONFIG_SECCOMP", true},
	{"CONFIG_SECCOMP_FILTER", true},
	// The System V next ids, kcmp, MSG_COPY, ns_last_pid and
	// PR_SET_MM's checks; not /proc/<pid>/map_files
	// (docs/COMPATIBILITY.md).
	{"CONFIG_CHECKPOINT_RESTORE", true},

	// No modules, cgroups or namespaces: clone and unshare with
	// CLONE_NEW* fail.
	{"CONFIG_MODULES", false},
	{"CONFIG_CGROUPS", false},
	{"CONFIG_NAMESPACES", false},
	{"CONFIG_UTS_NS", false},
	{"CONFIG_TIME_NS", false},
	{"CONFIG_IPC_NS", false},
	{"CONFIG_USER_NS", false},
	{"CONFIG_PID_NS", false},
	{"CONFIG_NET_NS", false},
	// Calls and files the sandbox does not have.
	{"CONFIG_AIO", false},
	{"CONFIG_IO_URING", false},
	{"CONFIG_USERFAULTFD", false},
	{"CONFIG_FHANDLE", false},
	{"CONFIG_RSEQ", false},
	{"CONFIG_DNOTIFY", false},
	{"CONFIG_FANOTIFY", false},
	{"CONFIG_BSD_PROCESS_ACCT", false},
	{"CONFIG_SWAP", false},
	{"CONFIG_NUMA", false},
	{"CONFIG_HUGETLBFS", false},
	{"CONFIG_MEMORY_FAILURE", false},
	{"CONFIG_MANDATORY_FILE_LOCKING", false},
	{"CONFIG_TMPFS_XATTR", false},
	{"CONFIG_BLK_DEV_LOOP", false},
	{"CONFIG_SECURITY", false},
}

// kernelConfigText renders kernelConfig as a kernel's .config.
func kernelConfigText() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 %s Kernel Configuration (runsc-decoupled)\n#\n", sysabi.KernelRelease)
	for _, o := range kernelConfig {
		if o.set {
			fmt.Fprintf(&b, "%s=y\n", o.name)
		} else {
			fmt.Fprintf(&b, "# %s is not set\n", o.name)
		}
	}
	return []byte(b.String())
}

// configGz is /proc/config.gz: kernelConfigText compressed once, with no
// name or time in its header, so every read gives the same bytes.
var configGz = sync.OnceValues(func() ([]byte, error) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(kernelConfigText()); err != nil {
		return nil, fmt.Errorf("compress the kernel config: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compress the kernel config: %w", err)
	}
	return buf.Bytes(), nil
})

func genConfigGz(Source, int32, int32) ([]byte, error) {
	b, err := configGz()
	if err != nil {
		// Writing to memory cannot fail; say EIO if it ever does.
		return nil, fmt.Errorf("%v: %w", err, unix.EIO)
	}
	return b, nil
}
