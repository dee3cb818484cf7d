package client

import (
	"fmt"
	"sync/atomic"
	"time"
)

// waitTimes is how long the application's threads waited for the server
// in one kind of wait (a waited call's reply, a listing ahead's), for
// the end-of-run counts: a workload's wall time that is neither the
// client's CPU nor the daemons' is these waits. Atomic; the zero value
// is empty and ready.
type waitTimes struct {
	// total is the sum of the waits, in nanoseconds.
	total atomic.Int64
	// buckets count the waits shorter than waitBounds[i] (the last, the
	// rest).
	buckets [len(waitBounds) + 1]atomic.Uint64
}

// waitBounds are the upper bounds of waitTimes.buckets but the last.
var waitBounds = [...]time.Duration{100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond}

// add counts one wait of d.
func (w *waitTimes) add(d time.Duration) {
	w.total.Add(int64(d))
	i := 0
	for i < len(waitBounds) && d >= waitBounds[i] {
		i++
	}
	w.buckets[i].Add(1)
}

// since counts one wait that began at start.
func (w *waitTimes) since(start time.Time) { w.add(time.Since(start)) }

// String formats the waits for the log: their total and their count by
// length ("<100µs <1ms <10ms <100ms more").
func (w *waitTimes) String() string {
	var n [len(waitBounds) + 1]uint64
	for i := range n {
		n[i] = w.buckets[i].Load()
	}
	return fmt.Sprintf("%v %v", time.Duration(w.total.Load()).Round(time.Microsecond), n)
}
