package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestProcStates compares testdata/procstate.c with native: a mapped file
// in /proc/self/maps, R/S/Z states (a pipe read blocks in the remote
// sentry, nanosleep and futex wait in the client sentry), task/, comm,
// fdinfo, and reopening an unlinked file through /proc/self/fd.
func TestProcStates(t *testing.T) {
	tu.RequireRoot(t)
	src, err := os.ReadFile(filepath.Join("testdata", "procstate.c"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prog := tu.StaticProgram(t, dir, "procstate", string(src))
	want := tu.Run(t, timeout, dir, "", prog)
	for _, p := range platforms {
		t.Run(p, func(t *testing.T) {
			got := tu.Sandbox(t, timeout, dir, "", []string{"--platform", p}, prog)
			compare(t, want, got)
		})
	}
}

// procShellCases read /proc with busybox; their output must match native.
var procShellCases = []struct{ name, script string }{
	{"meminfo", `for k in MemTotal MemFree MemAvailable Buffers Cached SwapTotal SwapFree; do grep -c "^$k: *[0-9]* kB$" /proc/meminfo; done`},
	{"present", `for f in meminfo cpuinfo stat uptime loadavg version filesystems self/maps self/mounts self/mountinfo self/environ; do [ -n "$(cat /proc/$f)" ] && echo $f; done`},
	{"cpuinfo", `grep -q '^processor' /proc/cpuinfo && grep -q '^model name' /proc/cpuinfo && grep -q '^flags' /proc/cpuinfo && echo ok`},
	{"self stat", `cut -d' ' -f2,3 /proc/self/stat; wc -w < /proc/self/stat`},
	{"status", `grep -E '^(Name|State|Uid|Gid|Threads):' /proc/self/status | cut -f1,2; grep -cE '^(Tgid|Pid|PPid):' /proc/self/status`},
	{"stat and uptime", `grep -c '^cpu ' /proc/stat; grep -c '^btime ' /proc/stat; awk '{print NF}' /proc/uptime; awk '{print NF}' /proc/loadavg; cut -d' ' -f1,2 /proc/version`},
	{"sys", `cat /proc/sys/kernel/ostype; test $(cat /proc/sys/kernel/pid_max) -ge 32768 && echo pid_max; test $(cat /proc/sys/fs/pipe-max-size) -ge 65536 && echo pipe-max-size; wc -w < /proc/sys/kernel/threads-max; cat /proc/sys/vm/overcommit_memory`},
	{"maps", `grep -c '\[stack\]' /proc/self/maps; head -1 /proc/self/maps | grep -c /busybox`},
	{"environ", `env -i FOO=bar A=b cat /proc/self/environ | tr '\0' '\n'`},
	{"task", `ls /proc/self/task | wc -l; readlink /proc/thread-self | grep -c /task/; cat /proc/self/task/*/comm`},
	{"comm", `echo -n renamed > /proc/self/comm; cat /proc/$$/comm; cat /proc/$$/task/$$/comm`},
}

// TestProcShell compares procShellCases with native.
func TestProcShell(t *testing.T) {
	tu.RequireRoot(t)
	for _, c := range procShellCases {
		t.Run(c.name, func(t *testing.T) {
			want := tu.Run(t, timeout, t.TempDir(), "", tu.Busybox, "sh", "-c", c.script)
			got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, tu.Busybox, "sh", "-c", c.script)
			compare(t, want, got)
		})
	}
}

// TestProcMounts checks the sandbox's mount table, which differs from the
// host's: the gofer's root, /proc and /dev.
func TestProcMounts(t *testing.T) {
	tu.RequireRoot(t)
	got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, tu.Busybox, "sh", "-c", `cat /proc/mounts; echo --; cut -d' ' -f5,9 /proc/self/mountinfo`)
	want := "gofer / gofer rw,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\ntmpfs /dev tmpfs rw,nosuid 0 0\n--\n/ gofer\n/proc proc\n/dev tmpfs\n"
	if got.Stdout != want || got.ExitCode != 0 {
		t.Errorf("mounts: exit %d\n%s\nwant:\n%s\nstderr: %s", got.ExitCode, got.Stdout, want, strings.TrimSpace(got.Stderr))
	}
}
