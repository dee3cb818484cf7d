package client

import (
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Group stops (docs/ARCHITECTURE.md, "Stop signals and job control"). The
// server decides that a process stops or continues and says so with a
// JobControl push; the client, which runs the threads, keeps every thread
// of a stopped process out of application code: a thread running
// application code is interrupted, a forwarded call blocked in the server
// is interrupted (it restarts after the stop, as on Linux), and each
// thread parks before it would next run application code or a signal
// handler, until the process continues or is killed.

// stopState is a process's group stop on the client.
type stopState struct {
	// stopped mirrors resume != nil for readers that hold task.mu, which
	// may not take process.mu. Atomic; written under process.mu.
	stopped atomic.Bool
	// resume is non-nil while the process is stopped and closed when it
	// continues. Protected by process.mu.
	resume chan struct{}
	// sig is the signal that stopped the process (0: unknown). Protected
	// by process.mu.
	sig int32
}

// onJobControl applies a JobControl push. A push for a process whose
// first thread the client has not started yet (a child just forked) waits
// for it with the early pushes of its TID, which is its PID.
func (c *client) onJobControl(p *pb.Push) {
	m := p.GetJobControl()
	c.mu.Lock()
	proc := c.processByPIDLocked(m.Pid)
	if proc == nil {
		c.early[m.Pid] = append(c.early[m.Pid], p)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	proc.applyJobControl(m)
}

// applyJobControl applies m to p.
func (p *process) applyJobControl(m *pb.JobControl) {
	p.setStopSignal(m.StopSignal)
	p.setStopped(m.Stopped, linux.SignalSet(m.Discard))
}

// setStopSignal records the signal that stopped p.
func (p *process) setStopSignal(sig int32) {
	p.mu.Lock()
	p.stop.sig = sig
	p.mu.Unlock()
}

// processByPIDLocked returns the client's process pid, or nil.
//
// Preconditions: c.mu is held.
func (c *client) processByPIDLocked(pid int32) *process {
	if t := c.tasks[pid]; t != nil && t.proc.pid == pid {
		return t.proc
	}
	for _, t := range c.tasks {
		if t.proc.pid == pid {
			return t.proc
		}
	}
	return nil
}

// setStopped stops or continues p after dropping the signals in discard
// pending in its threads. They are dropped first, as Linux's
// prepare_signal does: a thread that a continue wakes must not find a
// stop signal the SIGCONT discarded (it would stop the process again).
func (p *process) setStopped(stopped bool, discard linux.SignalSet) {
	threads := p.liveThreads()
	if discard != 0 {
		discardPending(threads, discard)
	}
	p.mu.Lock()
	changed := stopped != (p.stop.resume != nil)
	if changed {
		if stopped {
			p.stop.resume = make(chan struct{})
		} else {
			close(p.stop.resume)
			p.stop.resume = nil
		}
		p.stop.stopped.Store(stopped)
	}
	p.mu.Unlock()
	if changed && stopped {
		for _, t := range threads {
			t.mu.Lock()
			t.notifyLocked()
			t.mu.Unlock()
		}
	}
}

// resumeChan returns a channel closed when p continues, or nil if p is
// not stopped.
func (p *process) resumeChan() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop.resume == nil {
		return nil
	}
	return p.stop.resume
}

// parkWhileStopped keeps t out of the application while its process is
// stopped; a kill ends the wait.
func (t *task) parkWhileStopped() {
	for {
		resume := t.proc.resumeChan()
		if resume == nil {
			return
		}
		if t.ptraceGroupStop(resume) {
			// The tracer resumed t from the group stop (ptrace.go).
			return
		}
		t.mu.Lock()
		if t.killed {
			t.mu.Unlock()
			return
		}
		// Blocked: notifyLocked wakes it through t.wake (a kill).
		t.state = stateBlocked
		t.mu.Unlock()
		select {
		case <-resume:
		case <-t.wake:
		}
		t.setState(stateKernel)
	}
}

// reconcileStops sets every process's stop state from its record in the
// replay log after a recovery: a JobControl push lost with the server
// while the record that goes before it arrived must still take effect.
func (c *client) reconcileStops(rl *replaylog.Log) {
	c.mu.Lock()
	procs := make(map[*process]struct{})
	for _, t := range c.tasks {
		procs[t.proc] = struct{}{}
	}
	c.mu.Unlock()
	for p := range procs {
		rec := rl.Record(statekey.Proc(p.pid)).GetProcess()
		if rec == nil {
			continue
		}
		p.setStopSignal(rec.StopSignal)
		p.setStopped(rec.Stopped, 0)
	}
}
