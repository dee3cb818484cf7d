package client

import (
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestNotifyReachesTask checks that what needs a task's attention
// (PTRACE_INTERRUPT here) is not lost whatever the task goroutine is
// doing: in the client between its checks and the switch into the
// application, it is remembered for the run loop (TestPtracePrograms/attach
// hung in its "seize" part when the push came then, 1 run in 150 under
// load); in a local wait, it ends the wait.
func TestNotifyReachesTask(t *testing.T) {
	newTask := func() *task {
		p := newProcess(1, defaultLimits(), creds{})
		th := &task{tid: 1, proc: p, wake: make(chan struct{}, 1)}
		p.threads[1] = th
		return th
	}
	interrupt := &pb.PtraceUpdate{Tid: 1, Tracer: 2, Seized: true, Interrupt: true}

	t.Run("in the client", func(t *testing.T) {
		th := newTask()
		th.applyPtraceUpdate(interrupt)
		th.mu.Lock()
		defer th.mu.Unlock()
		if !th.notified {
			t.Fatal("a PTRACE_INTERRUPT while the task was in the client is not remembered")
		}
	})
	t.Run("in a local wait", func(t *testing.T) {
		th := newTask()
		done := make(chan error, 1)
		go func() { done <- th.blockOn(make(chan struct{}), time.Time{}) }()
		for {
			th.mu.Lock()
			blocked := th.state == stateBlocked
			th.mu.Unlock()
			if blocked {
				break
			}
			time.Sleep(time.Millisecond)
		}
		th.applyPtraceUpdate(interrupt)
		select {
		case err := <-done:
			if err != errInterrupted {
				t.Fatalf("blockOn = %v, want errInterrupted", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a PTRACE_INTERRUPT did not end a local wait")
		}
	})
}
