package main

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestGCPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		scanned, floor uint64
		want           int
	}{
		{scanned: 4 * mb, floor: 16 * mb, want: 400},
		{scanned: 3 * mb, floor: 16 * mb, want: 534}, // rounded up
		{scanned: 16 * mb, floor: 16 * mb, want: 100},
		{scanned: 200 * mb, floor: 16 * mb, want: 100},
		{scanned: 4 * mb, floor: 0, want: 100},
		{scanned: 0, floor: 16 * mb, want: 100}, // not measured yet
		{scanned: 1000, floor: 16 * mb, want: maxGCPercent},
	} {
		if got := gcPercentFor(c.scanned, c.floor); got != c.want {
			t.Errorf("gcPercentFor(%d, %d) = %d, want %d", c.scanned, c.floor, got, c.want)
		}
	}
}

// gcPercent reads the GC percentage (SetGCPercent returns the old one).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestKeepHeapFloor runs the floor in this process: the percentage
// follows the live heap from one collection to the next (a test's small
// heap: high; a live heap above the floor: 100), a collection after a
// pause sets 100, and a floor of 0 or an ended ctx leaves it alone.
func TestKeepHeapFloor(t *testing.T) {
	t.Setenv("GOGC", "") // restored at the end
	os.Unsetenv("GOGC")  // the floor is kept only without it
	defer debug.SetGCPercent(gcPercent())
	debug.SetGCPercent(100)
	log := hclog.NewNullLogger()

	keepHeapFloor(context.Background(), 0, log)
	runtime.GC()
	if p := gcPercent(); p != 100 {
		t.Fatalf("floor 0: GC percent %d, want 100", p)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const floor = 32 << 20
	keepHeapFloor(ctx, floor, log)
	// waitFor collects until the percentage satisfies ok: each
	// collection runs the cleanup that adjusts it.
	waitFor := func(what string, ok func(int) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(gcPercent()) && time.Now().Before(deadline); {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		if p := gcPercent(); !ok(p) {
			t.Fatalf("%s: GC percent %d", what, p)
		}
	}
	waitFor("small live heap, want above 300", func(p int) bool { return p > 300 })
	live := make([]byte, 2*floor) // never written: no resident pages
	waitFor("live heap above the floor, want 100", func(p int) bool { return p == 100 })
	runtime.KeepAlive(live)
	live = nil
	waitFor("live heap small again, want above 300", func(p int) bool { return p > 300 })
	// A collection after a pause (a daemon at rest) goes back to 100.
	time.Sleep(busyGCInterval + 100*time.Millisecond)
	runtime.GC()
	for deadline := time.Now().Add(5 * time.Second); gcPercent() != 100 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if p := gcPercent(); p != 100 {
		t.Fatalf("a collection %v after the one before: GC percent %d, want 100", busyGCInterval, p)
	}

	// Once ctx ends, collections no longer adjust it: set at 100 by a
	// live heap above the floor, it stays 100 when that heap is gone.
	live = make([]byte, 2*floor)
	waitFor("live heap above the floor again, want 100", func(p int) bool { return p == 100 })
	runtime.KeepAlive(live)
	cancel()
	live = nil
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if p := gcPercent(); p != 100 {
		t.Fatalf("after ctx ended: GC percent %d, want 100 (left alone)", p)
	}
}

// TestHeapFloorLeavesGOGC: an operator's GOGC wins.
func TestHeapFloorLeavesGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	defer debug.SetGCPercent(gcPercent())
	debug.SetGCPercent(150)
	keepHeapFloor(context.Background(), 1<<30, hclog.NewNullLogger())
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	if p := gcPercent(); p != 150 {
		t.Fatalf("GOGC=150 set: GC percent %d, want 150", p)
	}
}
