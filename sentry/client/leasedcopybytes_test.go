package client

import "testing"

// TestLeasedCopyBytes: a leased copy of at least half its lease's bytes
// carries them as they are (the replay log retains them uncopied); one
// of fewer carries a copy, so that retaining it does not keep the whole
// lease's bytes alive.
func TestLeasedCopyBytes(t *testing.T) {
	lease := make([]byte, 1000)
	for _, tc := range []struct {
		name     string
		from, to int
		aliased  bool
	}{
		{"the whole file", 0, 1000, true},
		{"its second half", 500, 1000, true},
		{"a few bytes", 10, 20, false},
		{"its last bytes", 990, 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := leasedCopyBytes(lease[tc.from:tc.to], len(lease))
			if len(got) != tc.to-tc.from {
				t.Fatalf("%d bytes, want %d", len(got), tc.to-tc.from)
			}
			if aliased := &got[0] == &lease[tc.from]; aliased != tc.aliased {
				t.Errorf("the lease's own bytes: %v, want %v", aliased, tc.aliased)
			}
		})
	}
}
