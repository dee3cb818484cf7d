package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestMemoryLocksAndAdvice compares testdata/memlock's programs with a
// native run: shmget with SHM_HUGETLB (LTP shmget02), the mlock family
// with RLIMIT_MEMLOCK and CAP_IPC_LOCK and VmLck (mmap14), and madvise's
// advice and errors (madvise02).
func TestMemoryLocksAndAdvice(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "memlock", []string{"shmhuge", "mlock", "madvise"})
}
