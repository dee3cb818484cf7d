package workpool

import (
	"sync"
	"testing"
	"time"
)

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
			p := New(time.Minute)
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
	p := New(10 * time.Millisecond)
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
