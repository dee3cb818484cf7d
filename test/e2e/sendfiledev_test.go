package e2e

import (
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSendfileToDevices compares testdata/sendfiledev.c (sendfile into
// /dev/null, /dev/zero, /dev/full, /dev/urandom and /dev/random) with
// native.
func TestSendfileToDevices(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "sendfiledev.c"))
	compare(t, tu.Run(t, timeout, dir, "", prog), tu.Sandbox(t, timeout, dir, "", nil, prog))
}
