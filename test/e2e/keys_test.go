package e2e

import (
	"os"
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// keysPrograms are the C programs of testdata/keys, each compared with a
// native run:
//   - timerfd_abs: absolute timerfds read back no more than they were set
//     to and never fire early (the server's view of the client's clocks is
//     refined from the timer calls' own clock samples, not only Hello's).
var keysPrograms = []string{"timerfd_abs"}

func TestKeysPrograms(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range keysPrograms {
		src, err := os.ReadFile(filepath.Join("testdata", "keys", name+".c"))
		if err != nil {
			t.Fatal(err)
		}
		prog := tu.StaticProgram(t, dir, name, string(src))
		t.Run(name, func(t *testing.T) {
			want := tu.Run(t, timeout, dir, "", prog)
			got := tu.Sandbox(t, timeout, dir, "", nil, prog)
			compare(t, want, got)
		})
	}
}
