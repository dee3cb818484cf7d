package server

import (
	"os"
	"path/filepath"
	"runtime/metrics"

	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// goroutinesCreated reads the runtime's count of goroutines created.
func goroutinesCreated(t *testing.T) uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("the runtime does not count created goroutines")
	}
	return s[0].Value.Uint64()
}

// TestForwardedCallGoroutines: a thread's forwarded calls that reach the
// gofer (open, close) start no goroutine each, in the server or in the
// gofer (a persistent worker per thread in the pool, the gofer's call
// stream workers); it was two or more per call (the thread's worker, the
// gofer's per-RPC goroutine).
func TestForwardedCallGoroutines(t *testing.T) {
	// Releases are batched on a 20 ms timer whose goroutine would count
	// per call on a loaded machine, where the calls are slow.
	old := releaseDelay
	releaseDelay = time.Hour
	t.Cleanup(func() { releaseDelay = old })
	e, _, _ := restartableEnv(t)
	if err := os.WriteFile(filepath.Join(e.root, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	openClose := func() {
		fd := e.open("/f", unix.O_RDONLY)
		e.ok(1, unix.SYS_CLOSE, fd)
	}
	openClose()
	const calls = 100
	before := goroutinesCreated(t)
	for i := 0; i < calls; i++ {
		openClose()
	}
	perCall := float64(goroutinesCreated(t)-before) / (2 * calls)
	t.Logf("%.2f goroutines created per forwarded call", perCall)
	if perCall > 0.25 {
		t.Errorf("%.2f goroutines created per forwarded call, want almost none", perCall)
	}
}
