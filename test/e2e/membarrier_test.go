package e2e

import "testing"

// TestMembarrier runs testdata/membarrier/membarrier.c natively and under
// do: membarrier's query, the barriers, their registrations (kept by
// fork, dropped by exec) and its errors, as Linux answers them; it was
// ENOSYS (LTP membarrier01).
func TestMembarrier(t *testing.T) {
	stracedTestdata(t, "membarrier", "membarrier")
}
