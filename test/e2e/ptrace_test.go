package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPtracePrograms compares tracers written against ptrace(2) with
// native runs: testdata/ptrace/syscalls.c follows its child's system
// calls (PTRACE_SYSCALL with TRACESYSGOOD, PEEKDATA of a written string,
// GETREGSET, a result changed with POKEUSER, a call skipped with
// SETREGS, the exit event), attach.c attaches to and seizes running
// children (signal-delivery-stops, injected and suppressed signals,
// INTERRUPT, DETACH, KILL, the errors), and events.c follows fork and
// exec (TRACEFORK, TRACEEXEC, GETEVENTMSG) and a tracer's exit, and
// step.c single-steps through a function (PTRACE_SINGLESTEP).
func TestPtracePrograms(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range []string{"syscalls", "attach", "events", "step"} {
		t.Run(name, func(t *testing.T) {
			prog := tu.StaticProgram(t, dir, name, ptraceSource(t, name))
			want := tu.Run(t, timeout, dir, "", prog)
			got := tu.Sandbox(t, timeout, dir, "", nil, prog)
			compare(t, want, got)
		})
	}
}

// ptraceSource reads testdata/ptrace/NAME.c.
func ptraceSource(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "ptrace", name+".c"))
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// straceIDs are what differs between two runs of the same strace: pids,
// addresses and CPU times.
var straceIDs = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\[pid +[0-9]+\]`), "[pid N]"},
	{regexp.MustCompile(`Process [0-9]+`), "Process N"},
	{regexp.MustCompile(`si_pid=[0-9]+`), "si_pid=N"},
	// strace adds a child's CPU time in seconds once it is 10 ms or more,
	// after the field: si_utime=1 /* 0.01 s */, si_stime=0.
	{regexp.MustCompile(`si_utime=[0-9]+(?: /\* [0-9.]+ s \*/)?, si_stime=[0-9]+(?: /\* [0-9.]+ s \*/)?`), "si_utime=T, si_stime=T"},
	{regexp.MustCompile(`0x[0-9a-f]+`), "ADDR"},
}

// TestStrace runs Debian's strace -f in the sandbox and compares its
// trace, modulo pids and addresses, its output and the files with a
// native run: busybox shells that write files, fork a subshell and exec
// (PTRACE_SEIZE, INTERRUPT and LISTEN of the stopped child, TRACEFORK
// and TRACEEXEC, syscall stops, process_vm_readv of paths and data,
// SIGCHLD's signal-delivery-stops), and testdata/ptrace/threads.c
// (TRACECLONE of threads, thread exits reported to the tracer).
func TestStrace(t *testing.T) {
	tu.RequireRoot(t)
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is required (run test/setup.sh): %v", err)
	}
	threads := tu.StaticProgram(t, t.TempDir(), "threads", ptraceSource(t, "threads"))
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"shell", []string{"-f", "-e", "trace=openat,write", tu.Busybox, "sh", "-c", "echo hi > f; cat f"}},
		{"subshell", []string{"-f", "-e", "trace=openat,write,execve,exit_group", tu.Busybox, "sh", "-c", "echo hi > f; cat f > g; (cat g > h; cat h); busybox true"}},
		{"threads", []string{"-f", "-e", "trace=write,exit,exit_group", threads}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := append([]string{strace}, tc.argv...)
			nativeDir, sandboxDir := t.TempDir(), t.TempDir()
			want := tu.Run(t, timeout, nativeDir, "", argv...)
			got := tu.Sandbox(t, timeout, sandboxDir, "", nil, argv...)
			for _, r := range []*tu.Result{&want, &got} {
				for _, id := range straceIDs {
					r.Stderr = id.re.ReplaceAllString(r.Stderr, id.with)
				}
			}
			if got.Stderr != want.Stderr {
				t.Errorf("trace differs\nnative:\n%s\nsandbox:\n%s", want.Stderr, got.Stderr)
			}
			compare(t, want, got)
			compareTrees(t, nativeDir, sandboxDir)
		})
	}
}

// TestPtraceRecovery kills the remote sentry while a tracee is in a
// syscall-enter-stop and its tracer waits (testdata/ptrace/recover.c):
// after the recovery the tracee is still traced and stopped, the tracer
// resumes it and the trace carries on, with output identical to native.
func TestPtraceRecovery(t *testing.T) {
	tu.RequireRoot(t)
	buildDir, nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	prog := tu.StaticProgram(t, buildDir, "recover", ptraceSource(t, "recover"))
	if err := os.WriteFile(filepath.Join(nativeDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := tu.Run(t, timeout, nativeDir, "", prog)

	k := startKillable(t, sockDir, sandboxDir, "5s", prog)
	if !k.waitUntil(func() bool { return tu.Exists(filepath.Join(sandboxDir, "phase1")) }) {
		t.Fatal("the program did not reach phase1")
	}
	// Let the tracer's wait for "go" block in the server too.
	time.Sleep(50 * time.Millisecond)
	k.killServer()
	if err := os.WriteFile(filepath.Join(sandboxDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := k.wait()
	if k.recoveries() == 0 {
		t.Errorf("no recovery logged")
	}
	compare(t, want, got)
	if t.Failed() {
		t.Logf("server log:\n%s", k.server.Log)
	}
}

// gdbDiffs are what differs between native gdb's output and the
// sandbox's: the pid, and the warnings that /proc/<pid>/mem is absent
// in the sandbox (docs/COMPATIBILITY.md; gdb then reads and writes the
// inferior's memory with PTRACE_PEEKDATA and POKEDATA).
var gdbDiffs = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^warning: opening /proc/\S+/mem file.*\n`), ""},
	{regexp.MustCompile(`process [0-9]+`), "process N"},
}

// TestGdb debugs testdata/ptrace/gdbprog.c with Debian's gdb in the
// sandbox and compares its output with native gdb's: a breakpoint,
// next, print, finish (a return value), a conditional breakpoint in a
// recursion, a backtrace, stepi and disassembly at the new pc, and the
// program's crash (SIGSEGV) with its backtrace, then kill.
func TestGdb(t *testing.T) {
	tu.RequireRoot(t)
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		t.Fatalf("gdb is required (run test/setup.sh): %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "gdbprog.c")
	if err := os.WriteFile(src, []byte(ptraceSource(t, "gdbprog")), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "gdbprog")
	if out, err := exec.Command("gcc", "-g", "-O0", "-static", "-o", prog, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	argv := []string{gdb, "-nx", "-q", "-batch",
		"-ex", "break sum", "-ex", "run", "-ex", "next", "-ex", "next", "-ex", "print s", "-ex", "finish",
		"-ex", "break depth if n == 1", "-ex", "continue", "-ex", "print here", "-ex", "bt",
		"-ex", "stepi", "-ex", "x/2i $pc", "-ex", "info registers rip",
		"-ex", "delete", "-ex", "continue", "-ex", "bt", "-ex", "kill", prog}
	want := tu.Run(t, timeout, dir, "", argv...)
	got := tu.Sandbox(t, timeout, dir, "", nil, argv...)
	for _, r := range []*tu.Result{&want, &got} {
		for _, d := range gdbDiffs {
			r.Stdout = d.re.ReplaceAllString(r.Stdout, d.with)
			r.Stderr = d.re.ReplaceAllString(r.Stderr, d.with)
		}
	}
	if got.Stderr != want.Stderr {
		t.Errorf("gdb's stderr differs\nnative:\n%s\nsandbox:\n%s", want.Stderr, got.Stderr)
	}
	compare(t, want, got)
}
