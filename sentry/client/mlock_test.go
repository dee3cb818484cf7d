package client

import "testing"

// TestSmapsLockedSize: VmLck counts a locked mapping's whole size
// (Linux's locked_vm), resident or not, and nothing of others.
func TestSmapsLockedSize(t *testing.T) {
	entry := func(flags string) string {
		return "Size:                 32 kB\nRss:                   4 kB\nLocked:                4 kB\nVmFlags: " + flags + "\n"
	}
	for _, c := range []struct {
		flags string
		want  uint64
	}{
		{"rd wr mr mw me lo ac ", 32 << 10},
		{"rd wr mr mw me lo ?? ac ", 32 << 10}, // MLOCK_ONFAULT
		{"rd wr mr mw me ac ", 0},
		{"rd wr mr mw me ms lock ", 0},
	} {
		if got := smapsLockedSize(entry(c.flags)); got != c.want {
			t.Errorf("VmFlags %q: %d, want %d", c.flags, got, c.want)
		}
	}
}
