package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/seccomp"

	"github.com/runsc-decoupled/runsc-decoupled/filter"
)

// Capabilities each daemon keeps; every other one is dropped from its
// effective, permitted, inheritable, ambient and bounding sets
// (docs/OPERATIONS.md lists them with why).
var (
	// goferCaps: the gofer serves files of every owner as the sentry
	// decided (the sentry checks permissions as the application's
	// kernel): it reads and writes them whatever their mode
	// (DAC_OVERRIDE, DAC_READ_SEARCH, which also open_by_handle_at
	// needs), gives new files the application's owner (CHOWN), changes
	// modes and times of and unlinks in sticky directories files it does
	// not own (FOWNER), and keeps set-group-id bits of files whose group
	// it is not in when allowed to (FSETID).
	goferCaps = []uintptr{unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER, unix.CAP_FSETID}
	// serverCaps: none. The server reaches files only through the gofer
	// and needs no privilege for anything it does itself.
	serverCaps = []uintptr{}
	// serverHostNetCaps are added with --network=host: the application's
	// sockets are the server's, and a root application binds ports
	// below 1024 (the server checks the application's credentials as
	// its kernel first).
	serverHostNetCaps = []uintptr{unix.CAP_NET_BIND_SERVICE}
)

// harden sets no_new_privs and reduces the process's capabilities to keep
// (intersected with what it has), on every thread: a compromised daemon
// cannot gain privileges by exec and holds only what its job needs. It
// works only in a static (non-cgo) binary, which the daemons are;
// otherwise it logs why it did nothing.
func harden(verb string, keep []uintptr, log hclog.Logger) error {
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		if e == syscall.ENOTSUP {
			log.Warn("not hardened: this binary was built with cgo (no_new_privs and capabilities are per thread)", "daemon", verb)
			return nil
		}
		return fmt.Errorf("no_new_privs: %w", e)
	}
	var want uint64
	for _, c := range keep {
		want |= 1 << c
	}
	last := lastCap()
	for c := 0; c <= last; c++ {
		if want&(1<<c) != 0 {
			continue
		}
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 && e != unix.EINVAL && e != unix.EPERM {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
		}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 && e != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	have := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	set := want & have
	for i := range data {
		v := uint32(set >> (32 * i))
		data[i] = unix.CapUserData{Effective: v, Permitted: v}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	log.Debug("hardened", "daemon", verb, "capabilities", fmt.Sprintf("%#x", set), "no_new_privs", true)
	return nil
}

// lastCap is the highest capability number this kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return unix.CAP_LAST_CAP
}

// seccompFlag registers a daemon's --seccomp flag.
func seccompFlag(fs *flag.FlagSet) *string {
	return fs.String("seccomp", "kill", "what the daemon's seccomp filter does with a system call outside its list, once it serves: kill (the daemon dies of SIGSYS), trap (it crashes with the Go stack of the call, for debugging), log (the call is made and the kernel logs it to the audit log), off (no filter)")
}

// lockdown returns what a daemon does once it listens, before it serves
// anyone: confine its view of the files (confine, may be nil), drop
// capabilities but keep (harden), and install its seccomp filter in the
// mode the flag names, on every thread.
func lockdown(verb string, confine func() error, keep []uintptr, mode string, rules func() seccomp.SyscallRules, log hclog.Logger) func() error {
	return func() error {
		m, err := filter.ParseMode(mode)
		if err != nil {
			return fmt.Errorf("--seccomp: %w", err)
		}
		if confine != nil {
			if err := confine(); err != nil {
				return fmt.Errorf("confine: %w", err)
			}
		}
		if err := harden(verb, keep, log); err != nil {
			return err
		}
		if m == filter.Off {
			log.Warn("--seccomp=off: no system call filter", "daemon", verb)
			return nil
		}
		if m != filter.Kill {
			log.Warn("seccomp filter does not kill on a violation", "daemon", verb, "mode", m.String())
		}
		if err := filter.Install(rules(), m); err != nil {
			return err
		}
		log.Debug("seccomp filter installed", "daemon", verb, "mode", m.String())
		return nil
	}
}

// namespacesFlag registers a daemon's --namespaces flag.
func namespacesFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("namespaces", true, "run in new mount, IPC and UTS namespaces (and a new, empty network namespace when every target is a Unix socket), seeing only the files the daemon needs: the gofer its root and /proc, the server its gofer's socket directory (false: the host's namespaces; also when the kernel refuses them)")
}
