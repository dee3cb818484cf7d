package e2e

import (
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// capsPrograms are the C programs of testdata/caps: capget/capset/prctl
// round trips and the capability transitions of set*uid and execve, each
// compared with a native run (as root).
var capsPrograms = []string{"capsets", "setuid"}

func TestCapabilities(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range capsPrograms {
		prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "caps", name+".c"))
		for _, p := range platforms {
			t.Run(p+"/"+name, func(t *testing.T) {
				// Each run in a fresh directory: the programs chown files
				// they create in their working directory.
				want := tu.Run(t, timeout, t.TempDir(), "", prog)
				got := tu.Sandbox(t, timeout, t.TempDir(), "", []string{"--platform", p}, prog)
				compare(t, want, got)
			})
		}
	}
}

// TestCapabilitiesRecovery changes a process's capabilities and checks
// they are the same after two server kills.
func TestCapabilitiesRecovery(t *testing.T) {
	compareAcrossTickKills(t, "caps", "recover")
}
