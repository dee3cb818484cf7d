package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestRemapFilePages runs testdata/remapfilepages natively and under do:
// remap_file_pages as Linux 4.0+ emulates it, on a shared mapping of a
// regular file (pages shown from other offsets, writes through them
// reaching the file, ranges across the vmas earlier remaps made, the
// address and size rounded down, other flags than MAP_NONBLOCK ignored,
// the vma's protection kept, a page beyond the end SIGBUS), on shared
// anonymous memory and on a SysV segment (with shm_nattch counting the
// split vmas), and its refusals; it was ENOSYS (LTP remap_file_pages01,
// remap_file_pages02, shmctl05).
func TestRemapFilePages(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "remapfilepages", []string{"remapfilepages"})
}
