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
// trimFreeHeap returns it: every trimInterval, when the heap holds more
// than trimThreshold bytes free but not yet released, it runs
// debug.FreeOSMemory (a GC and a scavenge of a small heap: a few ms,
// at most once an interval).
const (
	trimInterval  = 10 * time.Second
	trimThreshold = 16 << 20
)

// trimFreeHeap runs until ctx ends.
func trimFreeHeap(ctx context.Context, log hclog.Logger) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return // not offered by this runtime
		}
		if free := sample[0].Value.Uint64(); free > trimThreshold {
			debug.FreeOSMemory()
			log.Debug("returned free heap to the kernel", "free", free)
		}
	}
}
