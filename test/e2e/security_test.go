package e2e

import (
	_ "embed"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

//go:embed testdata/forkcap.c
var forkcapC string

// TestProcessLimits: a fork bomb inside the sandbox stops at the client's
// process cap (each application process is a process on this host), and
// RLIMIT_NPROC is honoured for a non-root user; both fail fork with EAGAIN
// as Linux does.
func TestProcessLimits(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgram(t, dir, "forkcap", forkcapC)
	for _, tc := range []struct {
		name  string
		flags []string
		args  []string
		want  string
	}{
		// The first process counts: 40 processes are init and 39 children.
		{"process cap", []string{"--max-processes", "40"}, nil, "forks=39 errno=Resource temporarily unavailable"},
		// RLIMIT_NPROC counts the tasks of the real uid: itself and 7.
		{"RLIMIT_NPROC", nil, []string{"8", "65534"}, "forks=7 errno=Resource temporarily unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tu.Sandbox(t, timeout, dir, "", tc.flags, append([]string{prog}, tc.args...)...)
			if strings.TrimSpace(got.Stdout) != tc.want || got.ExitCode != 0 {
				t.Fatalf("got %q (exit %d, stderr %s), want %q", got.Stdout, got.ExitCode, got.Stderr, tc.want)
			}
		})
	}
}

//go:embed testdata/nofile.c
var nofileC string

// TestNofileLimit: a lowered RLIMIT_NOFILE bounds the fds a process (and
// its children) may open, with the errnos Linux gives.
func TestNofileLimit(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgram(t, dir, "nofile", nofileC)
	want := tu.Run(t, timeout, dir, "", prog)
	got := tu.Sandbox(t, timeout, dir, "", nil, prog)
	compare(t, want, got)
}
