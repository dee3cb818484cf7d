package goferclient

import (
	"context"
	"testing"
	"time"
)

// TestCallDeadlines checks that a call's context ends between d and
// d+step after it was handed out, that calls begun within a step share
// one, and that the parent's end ends them.
func TestCallDeadlines(t *testing.T) {
	const d, step = 300 * time.Millisecond, 100 * time.Millisecond
	tests := []struct {
		name string
		// gap is the time between the two calls.
		gap        time.Duration
		wantShared bool
	}{
		{name: "at once", gap: 0, wantShared: true},
		{name: "after more than a step", gap: step + 20*time.Millisecond, wantShared: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cd := NewCallDeadlines(context.Background(), d, step)
			defer cd.Stop()
			// Each call's deadline is checked against the times just
			// before and after it, so that a sleep overslept under
			// load does not count against it.
			type handout struct {
				ctx           context.Context
				before, after time.Time
			}
			call := func() handout {
				h := handout{before: time.Now()}
				h.ctx = cd.Context()
				h.after = time.Now()
				return h
			}
			begun := time.Now()
			first := call()
			time.Sleep(tc.gap)
			second := call()
			a := first.ctx
			if shared := first.ctx == second.ctx; shared != tc.wantShared {
				t.Errorf("shared %v, want %v", shared, tc.wantShared)
			}
			for _, h := range []handout{first, second} {
				dl, ok := h.ctx.Deadline()
				if !ok {
					t.Fatal("no deadline")
				}
				if shared := first.ctx == second.ctx; shared && h == second {
					// The second call's is the first's.
					continue
				}
				if dl.Before(h.before.Add(d)) || dl.After(h.after.Add(d+step+50*time.Millisecond)) {
					t.Errorf("deadline %v after the call, want %v to %v", dl.Sub(h.before), d, d+step)
				}
			}
			<-a.Done()
			if time.Since(begun) < d {
				t.Errorf("ended after %v, before %v", time.Since(begun), d)
			}
		})
	}
	t.Run("the parent ends", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		cd := NewCallDeadlines(parent, time.Minute, time.Second)
		ctx := cd.Context()
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the call's context outlived its parent")
		}
	})
}

// TestCallDeadlinesAllocs counts a call's context's allocations: none
// while it shares the step's.
func TestCallDeadlinesAllocs(t *testing.T) {
	cd := NewCallDeadlines(context.Background(), time.Minute, time.Second)
	defer cd.Stop()
	cd.Context()
	if n := testing.AllocsPerRun(1000, func() { cd.Context() }); n > 0.01 {
		t.Errorf("%.2f allocations per call's context, want 0", n)
	}
}
