package server

import (
	"os"
	"path/filepath"
	"runtime/metrics"
	"sync"
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

func TestWorkerPool(t *testing.T) {
	tests := []struct {
		name       string
		concurrent int
	}{
		{name: "one at a time", concurrent: 1},
		{name: "four at once", concurrent: 4},
	}
	const rounds = 50
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newWorkerPool(time.Minute)
			for round := 0; round < rounds; round++ {
				var running, done sync.WaitGroup
				running.Add(tc.concurrent)
				done.Add(tc.concurrent)
				release := make(chan struct{})
				for i := 0; i < tc.concurrent; i++ {
					p.Go(func() {
						running.Done()
						<-release
						done.Done()
					})
				}
				running.Wait()
				close(release)
				done.Wait()
				// The workers get back to waiting for work.
				for deadline := time.Now().Add(5 * time.Second); p.idle.Load() < int64(p.started.Load()) && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
			}
			// Reused: the number of goroutines is the concurrency, not
			// the number of functions run (a worker that counted itself
			// idle but had not yet reached its receive may be passed
			// over now and then on a loaded machine).
			if got := p.started.Load(); got < int64(tc.concurrent) || got > int64(tc.concurrent)+rounds/10 {
				t.Errorf("%d goroutines started for %d rounds of %d, want about %d", got, rounds, tc.concurrent, tc.concurrent)
			}
		})
	}
}

func TestWorkerPoolIdleExit(t *testing.T) {
	p := newWorkerPool(10 * time.Millisecond)
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	for deadline := time.Now().Add(5 * time.Second); p.idle.Load() != 0 || time.Now().Before(deadline.Add(-4900*time.Millisecond)); {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still waiting after their idle time", p.idle.Load())
		}
		time.Sleep(time.Millisecond)
	}
	// The exited worker takes nothing: the next function starts another.
	p.Go(func() {})
	if got := p.started.Load(); got != 2 {
		t.Errorf("%d goroutines started, want 2", got)
	}
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
