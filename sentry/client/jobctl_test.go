package client

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestContinueDiscardsFirst checks that a continue that discards the
// pending stop signals (SIGCONT's) drops them before it wakes the parked
// threads: a woken thread that still found the stop signal would deliver
// it and stop the process again (TestPtracePrograms/attach hung in its
// "stopped" part so, 1 run in 100 under load). While the test holds the
// thread's lock, the signal cannot be dropped, so the process must not
// continue.
func TestContinueDiscardsFirst(t *testing.T) {
	p := newProcess(1, defaultLimits(), creds{})
	th := &task{tid: 1, proc: p}
	p.threads[1] = th
	p.setStopped(true, linux.SignalSetOf(linux.SIGCONT))
	th.pending = append(th.pending, queuedSignal{info: linux.SignalInfo{Signo: int32(linux.SIGSTOP)}})
	resume := p.resumeChan()

	th.mu.Lock()
	done := make(chan struct{})
	go func() {
		p.setStopped(false, linux.SignalSetOf(linux.SIGSTOP))
		close(done)
	}()
	select {
	case <-resume:
		th.mu.Unlock()
		t.Fatal("the process continued with the discarded SIGSTOP still pending")
	case <-time.After(100 * time.Millisecond):
	}
	th.mu.Unlock()
	<-done
	select {
	case <-resume:
	default:
		t.Fatal("the process did not continue")
	}
	if len(th.pending) != 0 {
		t.Fatalf("pending after the continue: %v", th.pending)
	}
}
