package server

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// ptraceStopCall sends tid's PtraceStop and returns a channel with its
// reply.
func (e *env) ptraceStopCall(tid int32, gen uint64, status int32) <-chan *sentrypb.Reply {
	ch := make(chan *sentrypb.Reply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := e.conn.Call(ctx, &sentrypb.Call{Tid: tid, Op: &sentrypb.Call_PtraceStop{PtraceStop: &sentrypb.PtraceStop{Gen: gen, WaitStatus: status}}})
		if err != nil {
			r = &sentrypb.Reply{Errno: int32(unix.EIO)}
		}
		ch <- r
	}()
	return ch
}

// threadRecord returns the last thread record of tid in a reply or push.
func (e *env) threadRecord(tid int32) *sentrypb.ThreadState {
	return e.lastRecord(func(r *sentrypb.StateRecord) bool { return r.GetThread() != nil && r.GetThread().Tid == tid }).GetThread()
}

// TestPtraceRequests checks the errors of the requests the server
// serves: who may attach, what needs a stopped tracee, bad arguments, and
// the requests that are the client's.
func TestPtraceRequests(t *testing.T) {
	e := started(t)
	traced := e.fork(1)
	e.ok(traced, unix.SYS_PTRACE, linux.PTRACE_TRACEME)
	untraced := e.fork(1)
	other := e.fork(1)
	e.ok(other, unix.SYS_SETRESUID, 1000, 1000, 1000)
	for _, tc := range []struct {
		name   string
		caller int32
		args   []uint64
		want   unix.Errno
	}{
		{"TRACEME twice", traced, []uint64{linux.PTRACE_TRACEME}, unix.EPERM},
		{"attach to itself", untraced, []uint64{linux.PTRACE_ATTACH, uint64(untraced)}, unix.EPERM},
		{"attach to a traced process", untraced, []uint64{linux.PTRACE_ATTACH, uint64(traced)}, unix.EPERM},
		{"attach to no one", 1, []uint64{linux.PTRACE_ATTACH, 99999}, unix.ESRCH},
		{"attach to another user's process", other, []uint64{linux.PTRACE_ATTACH, uint64(untraced)}, unix.EPERM},
		{"seize with an address", 1, []uint64{linux.PTRACE_SEIZE, uint64(untraced), 8}, unix.EIO},
		{"seize with unknown options", 1, []uint64{linux.PTRACE_SEIZE, uint64(untraced), 0, 1 << 30}, unix.EIO},
		{"cont of an untraced process", 1, []uint64{linux.PTRACE_CONT, uint64(untraced)}, unix.ESRCH},
		{"cont by someone else", untraced, []uint64{linux.PTRACE_CONT, uint64(traced)}, unix.ESRCH},
		{"cont of a running tracee", 1, []uint64{linux.PTRACE_CONT, uint64(traced)}, unix.ESRCH},
		{"interrupt of a TRACEME tracee", 1, []uint64{linux.PTRACE_INTERRUPT, uint64(traced)}, unix.EIO},
		{"detach of a running tracee", 1, []uint64{linux.PTRACE_DETACH, uint64(traced)}, unix.ESRCH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.fails(tc.want, tc.caller, unix.SYS_PTRACE, tc.args...)
		})
	}
	// In a stop: the requests that need one.
	stop := e.ptraceStopCall(traced, 1, int32(unix.SIGSTOP)<<8|0x7f)
	if pid, st := e.wait4(1, int64(traced), 0); pid != int64(traced) || st != uint32(unix.SIGSTOP)<<8|0x7f {
		t.Fatalf("wait4 = %d %#x, want the SIGSTOP stop", pid, st)
	}
	for _, tc := range []struct {
		name string
		args []uint64
		want unix.Errno
	}{
		{"unknown options", []uint64{linux.PTRACE_SETOPTIONS, uint64(traced), 0, 1 << 30}, unix.EINVAL},
		{"a resume with an invalid signal", []uint64{linux.PTRACE_CONT, uint64(traced), 0, 65}, unix.EIO},
		{"listen without seize", []uint64{linux.PTRACE_LISTEN, uint64(traced)}, unix.EIO},
		{"sysemu", []uint64{linux.PTRACE_SYSEMU, uint64(traced)}, unix.EIO},
		{"a client's request", []uint64{linux.PTRACE_PEEKDATA, uint64(traced), 0x1000, 0x2000}, unix.EIO},
		{"an unknown request", []uint64{0x7777, uint64(traced)}, unix.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.fails(tc.want, 1, unix.SYS_PTRACE, tc.args...)
		})
	}
	e.ok(1, unix.SYS_PTRACE, linux.PTRACE_CONT, uint64(traced), 0, 0)
	if r := <-stop; r.GetPtraceResume().GetRequest() != linux.PTRACE_CONT {
		t.Fatalf("stop reply %v", r)
	}
}

// TestPtraceStop follows one ptrace-stop through the server: the
// tracer's wait and SIGCHLD, the record, the resume with a signal, a
// re-sent stop call answered at once (as after a recovery), malformed
// stop calls, and the relation's end when the tracer exits.
func TestPtraceStop(t *testing.T) {
	e := started(t)
	tracer := e.fork(1)
	tracee := e.fork(tracer)
	e.ok(tracee, unix.SYS_PTRACE, linux.PTRACE_TRACEME)
	for _, tc := range []struct {
		name   string
		gen    uint64
		status int32
	}{
		{"gen 0", 0, 0x57f},
		{"not a stop status", 1, 0x500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := <-e.ptraceStopCall(tracee, tc.gen, tc.status); unix.Errno(r.Errno) != unix.EINVAL {
				t.Errorf("reply %v, want EINVAL", r)
			}
		})
	}
	const syscallStop = int32(unix.SIGTRAP|0x80)<<8 | 0x7f
	stop := e.ptraceStopCall(tracee, 1, syscallStop)
	if pid, st := e.wait4(tracer, -1, 0); pid != int64(tracee) || int32(st) != syscallStop {
		t.Fatalf("wait4 = %d %#x, want %#x", pid, st, syscallStop)
	}
	if pid, _ := e.wait4(tracer, -1, unix.WNOHANG); pid != 0 {
		t.Errorf("the stop was reported twice")
	}
	if ps := e.threadRecord(tracee).GetPtrace(); ps.GetTracer() != tracer || !ps.GetStopped() || ps.GetStopGen() != 1 || ps.GetWaitPending() {
		t.Errorf("record %v, want stopped by %d, waited for", ps, tracer)
	}
	select {
	case r := <-stop:
		t.Fatalf("the stop ended before the tracer resumed it: %v", r)
	case <-time.After(50 * time.Millisecond):
	}
	e.ok(tracer, unix.SYS_PTRACE, linux.PTRACE_SYSCALL, uint64(tracee), 0, uint64(unix.SIGUSR1))
	r := <-stop
	if res := r.GetPtraceResume(); res.GetRequest() != linux.PTRACE_SYSCALL || res.GetSigno() != int32(unix.SIGUSR1) || res.GetDetached() {
		t.Fatalf("stop reply %v", r)
	}
	if r := <-e.ptraceStopCall(tracee, 1, syscallStop); r.GetPtraceResume().GetRequest() != linux.PTRACE_SYSCALL {
		t.Errorf("re-sent stop: %v, want the same resume at once", r)
	}
	// A second stop; the tracer exits in it: the tracee is detached and
	// runs on.
	stop = e.ptraceStopCall(tracee, 2, syscallStop)
	e.wait4(tracer, -1, 0)
	e.sys(tracer, unix.SYS_EXIT_GROUP, 0)
	if r := <-stop; !r.GetPtraceResume().GetDetached() {
		t.Errorf("stop reply after the tracer's exit %v, want detached", r)
	}
	if ps := e.threadRecord(tracee).GetPtrace(); ps != nil {
		t.Errorf("record %v after the tracer's exit, want none", ps)
	}
}
