package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// socketPrograms are the C programs of testdata/sockets: eventfd, epoll
// and sockets, each run natively and in the sandbox with the same output
// expected.
var socketPrograms = []string{"eventfd", "epoll", "socketpair", "unixserver", "scmrights"}

// socketSource returns testdata/sockets/NAME.c with common.h inlined
// (testutil.StaticProgram compiles a single file).
func socketSource(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "sockets", name+".c"))
	if err != nil {
		t.Fatal(err)
	}
	common, err := os.ReadFile(filepath.Join("testdata", "sockets", "common.h"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(src), `#include "common.h"`, string(common), 1)
}

// TestSocketPrograms compares the socket, epoll and eventfd programs with
// native runs (systrap only: the calls are the server's, the platform
// does not matter to them).
func TestSocketPrograms(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range socketPrograms {
		t.Run(name, func(t *testing.T) {
			prog := tu.StaticProgram(t, dir, name, socketSource(t, name))
			want := tu.Run(t, timeout, dir, "", prog)
			got := tu.Sandbox(t, timeout, dir, "", nil, prog)
			compare(t, want, got)
		})
	}
}
