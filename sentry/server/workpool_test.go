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
		name        string
		concurrent  int
		wantStarted int64
	}{
		{name: "one at a time reuses one worker", concurrent: 1, wantStarted: 1},
		{name: "four at once need four", concurrent: 4, wantStarted: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newWorkerPool(time.Minute)
			for round := 0; round < 50; round++ {
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
				// Let the workers get back to waiting for work.
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					if idleWorkers(p) >= tc.concurrent {
						break
					}
				}
			}
			if got := p.started.Load(); got != tc.wantStarted {
				t.Errorf("%d goroutines started, want %d", got, tc.wantStarted)
			}
		})
	}
}

// idleWorkers counts how many of p's workers take work right now (each
// gets a function that reports back).
func idleWorkers(p *workerPool) int {
	var n int
	var wg sync.WaitGroup
	for {
		wg.Add(1)
		select {
		case p.work <- wg.Done:
			n++
			continue
		default:
			wg.Done()
		}
		break
	}
	wg.Wait()
	return n
}

func TestWorkerPoolIdleExit(t *testing.T) {
	p := newWorkerPool(10 * time.Millisecond)
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	time.Sleep(200 * time.Millisecond)
	if n := idleWorkers(p); n != 0 {
		t.Errorf("%d workers still waiting after their idle time", n)
	}
}

// TestForwardedCallGoroutines: a thread's forwarded calls that reach the
// gofer (open, close) start no goroutine each, in the server or in the
// gofer (a persistent worker per thread in the pool, the gofer's call
// stream workers); it was two or more per call (the thread's worker, the
// gofer's per-RPC goroutine).
func TestForwardedCallGoroutines(t *testing.T) {
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
