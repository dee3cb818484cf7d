package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/hashicorp/go-hclog"
)

// A daemon allocates mostly short-lived I/O buffers (a frame of posted
// writes, a run of file pages) over a live heap of a few MB. At GOGC=100
// the collector then runs every few MB allocated: a loop of 4 KiB writes
// behind (240 MB in 60,000 writes, frames of ~100 KB) cost the server
// about 60 collections, a third of its CPU (docs/BENCHMARKS.md,
// "heapfloor"). keepHeapFloor sets the GC percentage after each
// collection: while collections come more than once a second, the next
// one comes once the heap has grown by max(what the collector scans,
// floor), at most floor bytes of garbage held for fewer collections;
// otherwise (a live heap above the floor, a daemon at rest) as at
// GOGC=100. GOGC in the environment wins: the operator chose.
const (
	// defaultHeapFloor is the daemons' --heap-floor.
	defaultHeapFloor = 8 << 20
	// maxGCPercent bounds the percentage of a nearly empty heap.
	maxGCPercent = 10000
	// busyGCInterval: the floor is kept while collections come closer
	// than this; an idle daemon (heartbeats) collects at GOGC=100, so
	// that what it keeps between collections is not the floor's garbage.
	busyGCInterval = time.Second
)

// sizeFlag is a byte count flag (parseSize's forms: 16M, 512K, 0).
type sizeFlag uint64

func (f *sizeFlag) String() string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"G", 30}, {"M", 20}, {"K", 10}} {
		if n := uint64(*f); n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.suffix)
		}
	}
	return fmt.Sprint(uint64(*f))
}

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return fmt.Errorf("want a size such as 16M or 0: %w", err)
	}
	*f = sizeFlag(n)
	return nil
}

// heapFloorFlag registers a daemon's --heap-floor.
func heapFloorFlag(fs *flag.FlagSet) *sizeFlag {
	f := sizeFlag(defaultHeapFloor)
	fs.Var(&f, "heap-floor", "let the Go heap grow by at least `SIZE` of garbage between collections (K, M or G suffix; 0: the runtime's GOGC=100), fewer collections for a daemon whose live heap is small; GOGC in the environment overrides it")
	return &f
}

// gcPercentFor is the GC percentage that lets the heap grow by
// max(scanned, floor) before the next collection, scanned being what the
// last one scanned (the live heap, stacks and globals).
func gcPercentFor(scanned, floor uint64) int {
	if floor == 0 || scanned == 0 || scanned >= floor {
		// scanned 0: no collection has measured it yet.
		return 100
	}
	return int(min((floor*100+scanned-1)/scanned, maxGCPercent))
}

// gcSentinel is an object made to be collected: its cleanup marks the end
// of a GC cycle. It holds a pointer so that it is not a tiny allocation
// (which shares its block with others and may outlive the cycle).
type gcSentinel struct {
	_ *byte
	_ [16]byte
}

// keepHeapFloor sets the GC percentage after every collection until ctx
// ends (it then stays as it was): gcPercentFor(scanned, floor) if the
// collection came within busyGCInterval of the one before, else 100.
// floor 0 or GOGC set: it does nothing.
func keepHeapFloor(ctx context.Context, floorFlag sizeFlag, log hclog.Logger) {
	floor := uint64(floorFlag)
	if floor == 0 {
		return
	}
	if v, ok := os.LookupEnv("GOGC"); ok {
		log.Debug("GOGC is set: the heap floor is not kept", "GOGC", v)
		return
	}
	// The collector's goal is the live heap plus GOGC percent of what it
	// scans: the live heap, the goroutine stacks and the globals (a few
	// MB of gVisor's tables in this binary).
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	// Only the cleanup goroutine uses these: the percentage set last, and
	// when the collection before this one ended.
	last, lastGC := 100, time.Now()
	var arm func()
	adjust := func() {
		now := time.Now()
		busy := now.Sub(lastGC) < busyGCInterval
		lastGC = now
		metrics.Read(sample)
		var scanned uint64
		for _, s := range sample {
			if s.Value.Kind() != metrics.KindUint64 {
				return // not offered by this runtime: GOGC's default stays
			}
			scanned += s.Value.Uint64()
		}
		// Changed only when it moves by a tenth: each change recomputes
		// the collector's pacing.
		p := 100
		if busy {
			p = gcPercentFor(scanned, floor)
		}
		if p*10 < last*9 || p*10 > last*11 {
			debug.SetGCPercent(p)
			log.Trace("heap floor: GC percent set", "percent", p, "scanned", scanned)
			last = p
		}
		arm()
	}
	arm = func() {
		runtime.AddCleanup(new(gcSentinel), func(struct{}) {
			if ctx.Err() == nil {
				adjust()
			}
		}, struct{}{})
	}
	// The first collection (at the runtime's 4 MB) measures the heap.
	arm()
}
