package server

import (
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// TestThreadCallsPruned checks that the front's per-thread records
// (threadCalls) of threads the kernel freed are dropped once the map
// outgrows the kernel's threads, but not those of live threads, nor a
// record whose worker still runs.
func TestThreadCallsPruned(t *testing.T) {
	srv, err := New(Config{Gofer: startGofer(t, newRoot(t)), Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := fuzzClient(t, srv)
	defer c.destroy()
	k := c.k
	k.Mu.Lock()
	defer k.Mu.Unlock()
	live := k.Threads[1]
	liveCalls := c.callsOfLocked(live)
	if c.callsOfLocked(live) != liveCalls {
		t.Fatal("a thread's second lookup made a new record")
	}
	// Threads the kernel no longer has (as after their reap): one still
	// has a running worker.
	var gone []*kernel.Thread
	for i := 0; i < 40; i++ {
		th := &kernel.Thread{TID: int32(1000 + i)}
		gone = append(gone, th)
		c.callsOfLocked(th).running = i == 0
	}
	running := gone[0]
	tests := []struct {
		name string
		t    *kernel.Thread
		kept bool
	}{
		{"live thread", live, true},
		{"freed thread with a running worker", running, true},
		{"freed idle thread", gone[1], false},
		{"a freed thread's record made since the last pruning", gone[39], true},
	}
	for _, tc := range tests {
		if _, ok := c.calls[tc.t]; ok != tc.kept {
			t.Errorf("%s: record kept %v, want %v", tc.name, ok, tc.kept)
		}
	}
	if c.calls[live] != liveCalls {
		t.Error("the live thread's record was replaced")
	}
	if n := len(c.calls); n > 2*len(k.Threads)+17 {
		t.Errorf("%d records after pruning for %d threads", n, len(k.Threads))
	}
}
