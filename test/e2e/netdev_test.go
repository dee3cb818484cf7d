package e2e

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestNetDevCounters reads /proc/net/dev around known transfers (4 MB
// over a loopback TCP connection, and with --network=sandbox 4 MB to a
// server on the pod's host end and back) in each network mode and
// natively: every counter of lo and of the pod's interface moved by at
// least what was sent, as natively (testdata/netdev/netdev.c prints
// only these lower bounds: exact counts differ between kernels).
func TestNetDevCounters(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "netdev", "netdev.c"))
	const size = "4000000"
	v := tu.NewVethNS(t)
	port := strconv.Itoa(freePort(t))
	hostTCP(t, v.HostIP+":"+port)
	local := []string{prog, "-", "-", "0", size}
	pod := []string{prog, v.PodIf, v.HostIP, port, size}
	for _, tc := range []struct {
		name string
		// run runs the program natively or in a sandbox.
		run func(dir string, sandbox bool) tu.Result
	}{
		{"none", func(dir string, sandbox bool) tu.Result {
			if !sandbox {
				return tu.Run(t, timeout, dir, "", local...)
			}
			return tu.Sandbox(t, timeout, dir, "", nil, local...)
		}},
		{"host", func(dir string, sandbox bool) tu.Result {
			if !sandbox {
				return tu.Run(t, timeout, dir, "", local...)
			}
			return tu.Sandbox(t, timeout, dir, "", hostNet, local...)
		}},
		{"sandbox", func(dir string, sandbox bool) tu.Result {
			return tu.Run(t, timeout, dir, "", vethArgv(t, v, sandbox, dir, nil, pod...)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			native := tc.run(dir, false)
			got := tc.run(dir, true)
			if native.ExitCode != 0 || strings.Contains(native.Stdout, " no") || !strings.Contains(native.Stdout, "lo: rx bytes") {
				t.Fatalf("native run (exit %d):\n%s%s", native.ExitCode, native.Stdout, native.Stderr)
			}
			if got.Stdout != native.Stdout || got.ExitCode != 0 {
				t.Errorf("sandbox (exit %d):\n%s\nnative:\n%s\nsandbox stderr:\n%s", got.ExitCode, got.Stdout, native.Stdout, got.Stderr)
			}
		})
	}
}
