package e2e

import (
	"os"
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPtracePrograms compares tracers written against ptrace(2) with
// native runs: testdata/ptrace/syscalls.c follows its child's system
// calls (PTRACE_SYSCALL with TRACESYSGOOD, PEEKDATA of a written string,
// GETREGSET, a result changed with POKEUSER, a call skipped with
// SETREGS, the exit event), attach.c attaches to and seizes running
// children (signal-delivery-stops, injected and suppressed signals,
// INTERRUPT, DETACH, KILL, the errors), and events.c follows fork and
// exec (TRACEFORK, TRACEEXEC, GETEVENTMSG) and a tracer's exit.
func TestPtracePrograms(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range []string{"syscalls", "attach", "events"} {
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
