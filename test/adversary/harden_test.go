package adversary

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestDaemonsHardened: the gofer and the server ran with every capability
// and could gain more by exec; now they set no_new_privs and keep only
// the capabilities docs/OPERATIONS.md lists (the gofer: CHOWN,
// DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID; the server: none), and
// run under their seccomp filter (Seccomp: 2, filter mode).
func TestDaemonsHardened(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
	for _, tc := range []struct {
		name string
		d    *tu.Daemon
		caps string
	}{
		{"gofer", g, "000000000000001f"},
		{"server", s, "0000000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A daemon hardens itself after it binds its socket, which is
			// what StartDaemon waits for: wait for the filter, the
			// last step.
			var b []byte
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				var err error
				if b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", tc.d.Cmd.Process.Pid)); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(b), "\nSeccomp:\t2\n") || time.Now().After(deadline) {
					break
				}
			}
			status := map[string]string{}
			for _, l := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok {
					status[k] = strings.TrimSpace(v)
				}
			}
			for k, want := range map[string]string{"NoNewPrivs": "1", "CapEff": tc.caps, "CapPrm": tc.caps, "CapBnd": tc.caps, "CapInh": "0000000000000000", "CapAmb": "0000000000000000", "Seccomp": "2", "Seccomp_filters": "1"} {
				if status[k] != want {
					t.Errorf("%s %s = %q, want %q", tc.name, k, status[k], want)
				}
			}
		})
	}
}
