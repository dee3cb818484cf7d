package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestLTP3 compares testdata/ltp3's programs, each a small LTP gap
// (shmget02's SHM_HUGETLB, ...), with a native run.
func TestLTP3(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "ltp3", []string{"shmhuge", "mlock", "madvise"})
}
