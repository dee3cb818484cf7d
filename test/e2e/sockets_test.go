package e2e

import (
	"os"
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// socketPrograms are the C programs of testdata/sockets: eventfd, epoll
// and sockets, each run natively and in the sandbox with the same output
// expected.
var socketPrograms = []string{"eventfd", "epoll"}

// TestSocketPrograms compares the socket, epoll and eventfd programs with
// native runs (systrap only: the calls are the server's, the platform
// does not matter to them).
func TestSocketPrograms(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range socketPrograms {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", "sockets", name+".c"))
			if err != nil {
				t.Fatal(err)
			}
			prog := tu.StaticProgram(t, dir, name, string(src))
			want := tu.Run(t, timeout, dir, "", prog)
			got := tu.Sandbox(t, timeout, dir, "", nil, prog)
			compare(t, want, got)
		})
	}
}
