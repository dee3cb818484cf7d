package filter

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// childEnv makes the test binary a child that installs a filter and makes
// one system call (TestMain): the filter is installed on every thread, so
// a test must not do it in its own process.
const childEnv = "FILTER_TEST_CHILD"

// calls are the system calls a child may make, by name.
var calls = map[string]func(dir string) error{
	"getpid": func(string) error { unix.Getpid(); return nil },
	"open-read": func(string) error {
		fd, err := unix.Open("/proc/self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	},
	// The Go runtime's own open passes AT_FDCWD zero-extended.
	"open-read-runtime": func(string) error {
		p, err := unix.BytePtrFromString("/proc/self/status")
		if err != nil {
			return err
		}
		fd, _, e := unix.Syscall6(unix.SYS_OPENAT, 0xffffff9c, uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e == 0 {
			unix.Close(int(fd))
		}
		return errnoErr(e)
	},
	"open-create": func(dir string) error {
		fd, err := unix.Open(filepath.Join(dir, "f"), unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err == nil {
			unix.Close(fd)
		}
		return err
	},
	"mkdir":       func(dir string) error { return unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "d"), 0o700) },
	"unix-socket": func(string) error { return closeFD(unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)) },
	"packet-socket": func(string) error {
		return closeFD(unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0))
	},
	// Harmless were it let through: the source does not exist.
	"mount": func(dir string) error { return unix.Mount(filepath.Join(dir, "none"), dir, "", unix.MS_BIND, "") },
	"ptrace": func(string) error {
		_, _, e := unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_ATTACH, 1<<30, 0) // no such pid
		return errnoErr(e)
	},
	"mmap-exec": func(string) error {
		b, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err == nil {
			unix.Munmap(b)
		}
		return err
	},
	"kill-other": func(string) error { return unix.Kill(1, 0) },
	// What the server does with a fd the gofer donated (a regular file
	// opened before the filter, as one received later): read, write,
	// describe, close; and what it must not: open relative to it.
	"donated-io": func(string) error {
		buf := []byte("x")
		if _, err := unix.Pwrite(donated, buf, 0); err != nil {
			return err
		}
		if _, err := unix.Pread(donated, buf, 0); err != nil {
			return err
		}
		var stx unix.Statx_t
		if err := unix.Statx(donated, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &stx); err != nil {
			return err
		}
		if _, err := unix.FcntlInt(uintptr(donated), unix.F_GETFL, 0); err != nil {
			return err
		}
		return unix.Close(donated)
	},
	"openat-donated": func(string) error {
		return closeFD(unix.Openat(donated, "..", unix.O_RDONLY|unix.O_CLOEXEC, 0))
	},
	"syncfs": func(dir string) error {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Syncfs(fd)
	},
}

// donated is a regular file opened read-write before the filter is
// installed: a stand-in for an fd the gofer donates.
var donated = -1

func closeFD(fd int, err error) error {
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec))
	}
	os.Exit(m.Run())
}

// child runs "DAEMON MODE CALL DIR": installs DAEMON's filter in MODE,
// says so on stdout, makes CALL and reports its result on stdout.
func child(spec string) int {
	f := strings.Fields(spec)
	rules := map[string]func() seccomp.SyscallRules{"gofer": GoferRules, "server": ServerRules}[f[0]]
	mode, err := ParseMode(f[1])
	if err != nil || rules == nil || calls[f[2]] == nil {
		os.Stdout.WriteString("bad spec\n")
		return 3
	}
	fd, err := unix.Open(filepath.Join(f[3], "donated"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		os.Stdout.WriteString("open: " + err.Error() + "\n")
		return 3
	}
	donated = fd
	if err := Install(rules(), mode); err != nil {
		os.Stdout.WriteString("install: " + err.Error() + "\n")
		return 3
	}
	os.Stdout.WriteString("installed\n")
	err = calls[f[2]](f[3])
	if err != nil {
		os.Stdout.WriteString("returned " + err.Error() + "\n")
		return 0
	}
	os.Stdout.WriteString("returned ok\n")
	return 0
}

// TestFilters runs each call in a child under a daemon's filter: calls on
// the daemon's list go through, others kill the child with SIGSYS (kill
// and trap modes) or go through (log mode).
func TestFilters(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: mount, ptrace and AF_PACKET must be refused by the filter, not by permissions, for the results to mean something")
	}
	for _, tc := range []struct {
		daemon, mode, call string
		killed             bool
	}{
		{"server", "kill", "getpid", false},
		{"server", "kill", "open-read", false},
		{"server", "kill", "open-read-runtime", false},
		{"server", "kill", "unix-socket", false},
		{"server", "kill", "open-create", true},
		{"server", "kill", "mkdir", true},
		{"server", "kill", "packet-socket", true},
		{"server", "kill", "mount", true},
		{"server", "kill", "ptrace", true},
		{"server", "kill", "mmap-exec", true},
		{"server", "kill", "kill-other", true},
		{"gofer", "kill", "open-create", false},
		{"gofer", "kill", "mkdir", false},
		{"gofer", "kill", "unix-socket", false},
		{"gofer", "kill", "packet-socket", true},
		{"gofer", "kill", "mount", true},
		{"gofer", "kill", "ptrace", true},
		{"gofer", "kill", "mmap-exec", true},
		{"gofer", "kill", "syncfs", false},
		{"server", "kill", "syncfs", true},
		{"server", "kill", "donated-io", false},
		{"server", "kill", "openat-donated", true},
		{"server", "trap", "mkdir", true},
		{"server", "log", "mkdir", false},
		{"server", "log", "packet-socket", false},
	} {
		t.Run(tc.daemon+"/"+tc.mode+"/"+tc.call, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+strings.Join([]string{tc.daemon, tc.mode, tc.call, dir}, " "))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if !strings.HasPrefix(string(out), "installed\n") {
				t.Fatalf("child did not install the filter: %q %v %s", out, err, stderr.String())
			}
			var ee *exec.ExitError
			killed := errors.As(err, &ee) && sigsys(ee, stderr.String())
			if killed != tc.killed {
				t.Fatalf("killed by SIGSYS = %v, want %v (stdout %q, err %v, stderr %s)", killed, tc.killed, out, err, lastLines(stderr.String()))
			}
			if !killed && err != nil {
				t.Fatalf("child failed: %v %s", err, stderr.String())
			}
			if !killed && !strings.Contains(string(out), "returned") {
				t.Fatalf("child did not return from the call: %q", out)
			}
		})
	}
}

// sigsys says whether a child died of a seccomp violation: killed by
// SIGSYS (kill mode), or the Go runtime's crash on SIGSYS (trap mode).
func sigsys(ee *exec.ExitError, stderr string) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok {
		return false
	}
	if ws.Signaled() && ws.Signal() == syscall.SIGSYS {
		return true
	}
	return ws.Exited() && ws.ExitStatus() == 2 && strings.Contains(stderr, "SIGSYS: bad system call")
}

func lastLines(s string) string {
	l := strings.Split(s, "\n")
	if len(l) > 8 {
		l = l[:8]
	}
	return strings.Join(l, "\n")
}

// TestBuildEveryMode: both lists compile in every mode but off, and log
// mode has no kill left.
func TestBuildEveryMode(t *testing.T) {
	for name, rules := range map[string]func() seccomp.SyscallRules{"gofer": GoferRules, "server": ServerRules} {
		for _, m := range []Mode{Kill, Trap, Log} {
			insns, err := Build(rules(), m)
			if err != nil {
				t.Fatalf("%s %v: %v", name, m, err)
			}
			if len(insns) == 0 || len(insns) > 4096 {
				t.Fatalf("%s %v: %d instructions", name, m, len(insns))
			}
		}
		if _, err := Build(rules(), Off); err == nil {
			t.Errorf("%s: a program for mode off", name)
		}
	}
	for _, s := range []string{"", "KILL", "allow", "1"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) accepted", s)
		}
	}
}
