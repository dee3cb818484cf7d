package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/hashicorp/go-hclog"
)

// A daemon's live heap is small (the server holds about 100 KB per idle
// client), but a burst of work (clients starting: exec images read
// through the gofer and sent on) leaves tens of MB of freed heap that the
// Go runtime keeps mapped and returns to the kernel only slowly, so the
// RSS of a server with idle clients was mostly garbage of their start.
// trimFreeHeap returns it: every trimInterval it runs debug.FreeOSMemory
// (a GC and a scavenge of a small heap: a few ms, at most once an
// interval) when the heap holds more than trimThreshold bytes free but
// not yet released, or, after an interval without a collection (a
// daemon at rest), more than idleTrimBytes free or not yet collected:
// the garbage of its last burst (up to the heap floor's, heapfloor.go)
// would otherwise stay until the runtime's two-minute collection.
const (
	trimInterval  = 10 * time.Second
	trimThreshold = 16 << 20
	idleTrimBytes = 2 << 20
)

// trimFreeHeap runs until ctx ends.
func trimFreeHeap(ctx context.Context, log hclog.Logger) {
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	var lastCycles uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		for _, s := range sample {
			if s.Value.Kind() != metrics.KindUint64 {
				return // not offered by this runtime
			}
		}
		free, objects, live, cycles := sample[0].Value.Uint64(), sample[1].Value.Uint64(), sample[2].Value.Uint64(), sample[3].Value.Uint64()
		garbage := objects - min(objects, live)
		idle := cycles == lastCycles
		if free > trimThreshold || idle && free+garbage > idleTrimBytes {
			debug.FreeOSMemory()
			log.Debug("returned free heap to the kernel", "free", free, "garbage", garbage, "idle", idle)
			metrics.Read(sample[3:])
			cycles = sample[3].Value.Uint64()
		}
		lastCycles = cycles
	}
}
