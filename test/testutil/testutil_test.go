package testutil

import (
	"context"
	"os/exec"
	"slices"
	"testing"
)

// TestCommandEnvironment checks that a sandbox runs with the environment
// a native run has, which its application inherits: TestStrace/subshell
// compares strace's count of the variables, and GOTRACEBACK=all, added
// for the stacks of a hung sandbox, made it 40 for native's 39 (the
// runtime prints every goroutine on SIGABRT without it).
func TestCommandEnvironment(t *testing.T) {
	saved := buildPath
	buildPath = "/nonexistent/runsc-decoupled"
	defer func() { buildPath = saved }()
	want := exec.Command("/bin/true").Environ()
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"native", []string{"/bin/true"}},
		{"sandbox", []string{buildPath, "do", "--", "/bin/true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := command(context.Background(), "", "", tc.argv)
			got := cmd.Environ()
			if !slices.Equal(got, want) {
				extra := slices.DeleteFunc(slices.Clone(got), func(v string) bool { return slices.Contains(want, v) })
				missing := slices.DeleteFunc(slices.Clone(want), func(v string) bool { return slices.Contains(got, v) })
				t.Errorf("environment differs from a native run's: %q more, %q fewer", extra, missing)
			}
		})
	}
}
