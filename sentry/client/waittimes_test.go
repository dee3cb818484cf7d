package client

import (
	"testing"
	"time"
)

// TestWaitTimes: each wait counts in the bucket of its length (a bound
// belongs to the next bucket) and in the total.
func TestWaitTimes(t *testing.T) {
	var w waitTimes
	if got, want := w.String(), "0s [0 0 0 0 0]"; got != want {
		t.Fatalf("empty: %q, want %q", got, want)
	}
	for _, d := range []time.Duration{
		10 * time.Microsecond, 100 * time.Microsecond, 999 * time.Microsecond,
		5 * time.Millisecond, 10 * time.Millisecond, 2 * time.Second,
	} {
		w.add(d)
	}
	if got, want := w.String(), "2.016109s [1 2 1 1 1]"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
