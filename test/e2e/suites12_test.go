package e2e

import (
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSuites12Fixes compares programs of testdata/suites12 with a native
// run; each guards what the public suites (docs/COMPATIBILITY.md,
// "Measured against public suites") found different.
func TestSuites12Fixes(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range []string{
		// creat_symlink: open(O_CREAT) of a symlink creates or opens
		// its target (it was ENOENT for a dangling one).
		"creat_symlink",
		// synth_times: /dev's and /proc's times stand still and are
		// older than the program (they were each stat's time).
		"synth_times",
		// coredump_filter: /proc/<pid>/coredump_filter's mask, its
		// writes, fork and execve (it did not exist).
		"coredump_filter",
		// seek_hole: lseek SEEK_DATA and SEEK_HOLE of a sparse file
		// (they answered as if it had no holes).
		"seek_hole",
		// pagemap: /proc/self/pagemap's present and file bits of
		// mapped pages (it did not exist).
		"pagemap",
		// drop_caches: root's writes of /proc/sys/vm/drop_caches (it
		// was read-only; LTP's hugepage setup writes it).
		"drop_caches",
		// futex_waitv: futex_waitv(2) on the client (it was ENOSYS).
		"futex_waitv",
		// oom_score_adj: /proc/<pid>/oom_score_adj, oom_adj and
		// oom_score without CAP_SYS_RESOURCE (they did not exist;
		// LTP's tst_memutils writes oom_score_adj).
		"oom_score_adj",
	} {
		t.Run(name, func(t *testing.T) {
			prog := tu.StaticProgram(t, t.TempDir(), name, testdataSource(t, "suites12", name))
			want := tu.Run(t, timeout, worldWritableDir(t), "", prog)
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			compare(t, want, tu.Sandbox(t, timeout, worldWritableDir(t), "", nil, prog))
		})
	}
}

// TestOOMScoreAdjPrivileged runs testdata/suites12/oom_score_adj with
// "priv": a forked child with CAP_SYS_RESOURCE lowers its oom_score_adj
// and sets its oom_score_adj_min, which a child that gave up root keeps,
// and oom_adj -17 makes oom_score 0. Against Linux's answers (want);
// natively too where the host grants the capability (a root in a
// container may lack it).
func TestOOMScoreAdjPrivileged(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "oom_score_adj", testdataSource(t, "suites12", "oom_score_adj"))
	if native := tu.Run(t, timeout, worldWritableDir(t), "", prog, "priv"); strings.HasPrefix(native.Stdout, "CAP_SYS_RESOURCE: 1\n") && native.Stdout != oomPrivWant {
		t.Errorf("native run differs from the want (fix the want):\n%s", native.Stdout)
	}
	got := tu.Sandbox(t, timeout, worldWritableDir(t), "", nil, prog, "priv")
	if got.ExitCode != 0 || got.Stdout != oomPrivWant {
		t.Errorf("exit %d\n%s%s\nwant (Linux's)\n%s", got.ExitCode, got.Stdout, got.Stderr, oomPrivWant)
	}
}

const oomPrivWant = `CAP_SYS_RESOURCE: 1
write oom_score_adj -500: 4 
after -500: oom_score_adj -500 oom_adj -8 task -500
at -500: oom_score as its adj and a small resident set
write oom_score_adj 200: 3 
write oom_score_adj -100: 4 
after 200 and -100: oom_score_adj -100 oom_adj -1 task -100
write oom_score_adj -101: -1 Permission denied
write oom_score_adj 300: 3 
write oom_score_adj -100: 4 
nobody, minimum -100: oom_score_adj -100 oom_adj -1 task -100
write oom_adj -17: 3 
after oom_adj -17: oom_score_adj -1000 oom_adj -17 task -1000
oom_score at -1000: 0
write oom_adj -16: 3 
after oom_adj -16: oom_score_adj -941 oom_adj -15 task -941
write oom_adj -17: 3 
write oom_score_adj -1000: 5 
after -1000: oom_score_adj -1000 oom_adj -17 task -1000
`
