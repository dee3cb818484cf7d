package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestLTP4Fixes compares each program of testdata/ltp4 with a native run,
// each side in a directory of its own. Each comes from an LTP failure
// (docs/COMPATIBILITY.md, "Measured against public suites").
func TestLTP4Fixes(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range []string{
		// cputimer: POSIX timers on CPU-time clocks, run by the client
		// (LTP timer_create01).
		"cputimer",
		// coredump: WCOREDUMP and CLD_DUMPED as RLIMIT_CORE allows (LTP
		// kill11, waitpid01, waitid10); no core file is written.
		"coredump",
		// fallocate: the gofer's Fallocate, Linux's checks, memfd seals,
		// a mapping seeing a punched hole (LTP fallocate01-03,
		// mremap06, memfd_create01).
		"fallocate",
		// growsdown: a MAP_GROWSDOWN mapping grows on a fault below it,
		// within RLIMIT_STACK and the guard gap (LTP mmap18).
		"growsdown",
		// madvkind: MADV_FREE and MADV_REMOVE by the kind of mapping,
		// from the client's per-range index.
		"madvkind",
		// sigqueue: rt_sigqueueinfo to a thread's id, rt_tgsigqueueinfo,
		// clock_nanosleep on the thread CPU clock (LTP
		// rt_sigqueueinfo01, clock_nanosleep01).
		"sigqueue",
		// rlimitcpu: SIGXCPU and SIGKILL at RLIMIT_CPU's limits, from
		// the CPU time the client measures (LTP setrlimit06).
		"rlimitcpu",
	} {
		t.Run(name, func(t *testing.T) {
			prog := tu.StaticProgram(t, t.TempDir(), name, testdataSource(t, "ltp4", name))
			want := tu.Run(t, timeout, t.TempDir(), "", prog)
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			compare(t, want, tu.Sandbox(t, timeout, t.TempDir(), "", nil, prog))
		})
	}
}
