package client

import (
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
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

// TestNotifyBeforeWait checks that what needs a task's attention and
// comes after its last check, while the task goroutine is still in the
// client, ends the wait it then begins, forwarded or local, as Linux's
// wait checks the pending signals before it sleeps: notifyLocked found
// no wait to end, and no second notify comes. TestGdb hung in CI so: the
// tracee's SIGCHLD came while gdb built its poll, which then waited
// forever (a 5 ms pause there hung 17 gdb runs of 29; none with this).
// A group stop the task was resumed from by its tracer (notified cleared
// by the run loop) ends none of its waits.
func TestNotifyBeforeWait(t *testing.T) {
	// A wait not interrupted ends after late: long enough for an
	// Interrupt to come, and for one to win where it is due.
	const quick, slow = 300 * time.Millisecond, 5 * time.Second
	sigchld := &pb.SignalPush{Tid: 7, Signo: int32(unix.SIGCHLD)}
	for _, tc := range []struct {
		name string
		// came is what reached the task after its last check.
		came            func(tk *task)
		wantInterrupted bool
	}{
		{"nothing", func(*task) {}, false},
		{"SIGCHLD", func(tk *task) { tk.queueSignalPush(sigchld) }, true},
		{"a blocked SIGCHLD", func(tk *task) {
			tk.mu.Lock()
			tk.setMaskLocked(linux.SignalSetOf(linux.SIGCHLD))
			tk.mu.Unlock()
			tk.queueSignalPush(sigchld)
		}, false},
		{"PTRACE_INTERRUPT", func(tk *task) {
			tk.applyPtraceUpdate(&pb.PtraceUpdate{Tid: 7, Tracer: 2, Seized: true, Interrupt: true})
		}, true},
		{"a group stop", func(tk *task) { tk.proc.setStopped(true, 0) }, true},
		{"a group stop the tracer resumed the task from", func(tk *task) {
			tk.proc.setStopped(true, 0)
			tk.mu.Lock()
			tk.notified = false // the run loop's checks saw it
			tk.mu.Unlock()
		}, false},
	} {
		late := quick
		if tc.wantInterrupted {
			late = slow
		}
		for _, w := range []struct {
			name string
			// wait waits and says whether it was interrupted.
			wait func(t *testing.T, tk *task) bool
		}{
			{"forwarded", func(t *testing.T, tk *task) bool {
				r, err := tk.call(&pb.Call{Tid: tk.tid, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{
					Sysno: unix.SYS_POLL, Args: []uint64{0, 0, ^uint64(0)},
				}}})
				if err != nil {
					t.Fatalf("poll: %v", err)
				}
				return unix.Errno(r.Errno) == errRestartNoHand
			}},
			{"local", func(t *testing.T, tk *task) bool {
				return tk.blockOn(nil, time.Now().Add(late)) == errInterrupted
			}},
		} {
			t.Run(tc.name+"/"+w.name, func(t *testing.T) {
				tk := sessionTaskWith(t, waitingServer(late), 0)
				tk.wake = make(chan struct{}, 1)
				tc.came(tk)
				start := time.Now()
				if got := w.wait(t, tk); got != tc.wantInterrupted {
					t.Errorf("interrupted = %v after %v, want %v", got, time.Since(start).Round(time.Millisecond), tc.wantInterrupted)
				}
			})
		}
	}
}

// waitingServer serves Sessions whose calls wait as poll(-1) does: until
// an Interrupt for their thread (the reply is then ERESTARTNOHAND) or,
// standing for the event waited for, until late has passed (the reply is
// then 0). An Interrupt that comes before its call is dropped, as the
// server drops it.
func waitingServer(late time.Duration) transport.SessionFunc {
	return func(st pb.Sentry_SessionServer) error {
		if m, err := st.Recv(); err != nil || m.GetHello() == nil {
			return errors.New("want hello")
		}
		// mu orders the stream's sends and guards waiting, each thread's
		// waiting call by its seq.
		var mu sync.Mutex
		waiting := map[int32]uint64{}
		send := func(m *pb.ServerMessage) {
			mu.Lock()
			defer mu.Unlock()
			st.Send(m)
		}
		reply := func(tid int32, seq uint64, errno unix.Errno) {
			mu.Lock()
			defer mu.Unlock()
			if s, ok := waiting[tid]; ok && s == seq {
				delete(waiting, tid)
				st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: seq, Errno: int32(errno)}}})
			}
		}
		defer welcome(send, "waiting", 20*time.Millisecond, nil)()
		for {
			m, err := st.Recv()
			if err != nil {
				return nil
			}
			if c := m.GetCall(); c != nil {
				mu.Lock()
				waiting[c.Tid] = c.Seq
				mu.Unlock()
				time.AfterFunc(late, func() { reply(c.Tid, c.Seq, 0) })
			}
			if in := m.GetInterrupt(); in != nil {
				mu.Lock()
				seq, ok := waiting[in.Tid]
				mu.Unlock()
				if ok {
					reply(in.Tid, seq, errRestartNoHand)
				}
			}
		}
	}
}
