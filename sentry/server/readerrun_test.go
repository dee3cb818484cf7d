package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// onlyClient returns e's one client.
func onlyClient(t *testing.T, e *env) *client {
	t.Helper()
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	if len(e.srv.clients) != 1 {
		t.Fatalf("%d clients, want 1", len(e.srv.clients))
	}
	for c := range e.srv.clients {
		return c
	}
	return nil
}

// TestPostedFrameOnReader sends rounds of posted writes behind to a
// file, each round a frame of posted calls alone (a batch the transport
// queues, sent by SendPosted), from a client whose kernel has one
// thread, and checks who ran them: the socket reader itself, no worker
// handed the batch; with a watch shorter than any batch, each time a
// new goroutine took the reading over, and the session still reads and
// answers what follows (a waited call after each round) and ends when
// the test ends. The file holds every round's bytes in order.
func TestPostedFrameOnReader(t *testing.T) {
	tests := []struct {
		name  string
		watch time.Duration
		// relieved says a round's reader hands the reading over.
		relieved bool
	}{
		{"the reader runs them", time.Minute, false},
		{"a batch outlasts the watch", time.Nanosecond, true},
	}
	const rounds, writes = 5, 4
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := postedRunWatch
			postedRunWatch = tc.watch
			t.Cleanup(func() { postedRunWatch = old })
			e := started(t)
			c := onlyClient(t, e)
			fd := e.open("/out", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC)
			// The open's worker may still be on its way out after its
			// reply: a frame then joins its queue.
			waitThreadIdle(t, c, 1)
			handoffs, here := c.counts.handoffs.Load(), c.counts.here.Load()
			want := postedRounds(t, e, fd, rounds, writes)
			ranHere, handed, relieved := c.counts.here.Load()-here, c.counts.handoffs.Load()-handoffs, c.counts.relieved.Load()
			e.ok(1, unix.SYS_CLOSE, fd)
			got, err := os.ReadFile(filepath.Join(e.root, "out"))
			if err != nil || string(got) != want {
				t.Fatalf("the file holds %q, %v; want %q", got, err, want)
			}
			t.Logf("%d rounds: %d calls run where they were received (batches and getpids), %d handed to workers, the reading taken over %d times", rounds, ranHere, handed, relieved)
			if handed > 0 {
				t.Errorf("%d batches handed to workers, want none", handed)
			}
			// Relieved, a round's reader may still drain the thread's
			// queue when the next frame comes: its calls join it.
			if !tc.relieved && ranHere < 2*rounds || tc.relieved && ranHere < 1 {
				t.Errorf("%d calls run where they were received in %d rounds", ranHere, rounds)
			}
			if tc.relieved && relieved < 1 || !tc.relieved && relieved > 0 {
				t.Errorf("the reading was taken over %d times in %d rounds", relieved, rounds)
			}
		})
	}
}

// postedRounds sends rounds frames of writes posted calls alone from
// thread 1 to fd, each followed by a waited getpid whose reply brings the
// frame's, checks the writes' replies, and returns the bytes written.
func postedRounds(t *testing.T, e *env, fd uint64, rounds, writes int) string {
	t.Helper()
	var want strings.Builder
	for r := 0; r < rounds; r++ {
		var chs []<-chan *sentrypb.Reply
		for i := 0; i < writes; i++ {
			data := []byte{byte('a' + r), byte('0' + i)}
			want.Write(data)
			a := [6]uint64{fd, e.mem.alloc(data), uint64(len(data))}
			var inputs []*sentrypb.Region
			for _, in := range sysabi.Inputs(unix.SYS_WRITE, a, e.mem) {
				inputs = append(inputs, &sentrypb.Region{Addr: in.Addr, Data: in.Data})
			}
			ch, err := e.conn.GoPosted(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
				Sysno: unix.SYS_WRITE, Args: a[:], Inputs: inputs, Posted: true}}})
			if err != nil {
				t.Fatal(err)
			}
			chs = append(chs, ch)
		}
		if err := e.conn.SendPosted(); err != nil {
			t.Fatal(err)
		}
		// The waited call goes after the frame, and its reply
		// brings the batch's.
		e.ok(1, unix.SYS_GETPID)
		for i, ch := range chs {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			rep, err := e.conn.Await(ctx, ch)
			cancel()
			if err != nil || rep.Errno != 0 || rep.Ret != 2 {
				t.Fatalf("round %d, write %d: reply %v, %v", r, i, rep, err)
			}
		}
	}
	return want.String()
}

// waitThreadIdle waits until no worker runs thread tid's calls.
func waitThreadIdle(t *testing.T, c *client, tid int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c.k.Mu.Lock()
		th := c.k.Threads[tid]
		busy := th != nil && c.calls[th] != nil && c.calls[th].running
		c.k.Mu.Unlock()
		if !busy {
			return
		}
	}
	t.Fatalf("thread %d's calls still running", tid)
}

// TestPostedFrameOnReaderOthersWaiting: a client whose kernel has two
// threads, the child blocked in a read of an empty pipe (as wc in `find
// | wc -l`), sends rounds of frames of posted writes from the parent:
// the socket reader runs them, no worker is handed one, as for a kernel
// of one thread. While the child is in no call (it may send at any
// time), the frames go to workers, as before. A write to the pipe
// then ends the child's read with its byte.
func TestPostedFrameOnReaderOthersWaiting(t *testing.T) {
	const rounds, writes = 5, 4
	for _, blocked := range []bool{true, false} {
		t.Run(map[bool]string{true: "the other thread blocked in read", false: "the other thread in no call"}[blocked], func(t *testing.T) {
			e := started(t)
			c := onlyClient(t, e)
			m := e.mem
			fds := m.zeros(8)
			e.ok(1, unix.SYS_PIPE2, fds, 0)
			rfd, wfd := uint64(m.u32(fds)), uint64(m.u32(fds+4))
			child := e.fork(1)
			fd := e.open("/out", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC)
			buf := m.zeros(8)
			var read <-chan *sentrypb.Reply
			if blocked {
				var err error
				read, err = e.conn.Go(&sentrypb.Call{Tid: child, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
					Sysno: unix.SYS_READ, Args: []uint64{rfd, buf, 8, 0, 0, 0}}}})
				if err != nil {
					t.Fatal(err)
				}
				waitThreadBlocked(t, c, child)
			}
			waitThreadIdle(t, c, 1)
			handoffs, here := c.counts.handoffs.Load(), c.counts.here.Load()
			want := postedRounds(t, e, fd, rounds, writes)
			ranHere, handed := c.counts.here.Load()-here, c.counts.handoffs.Load()-handoffs
			t.Logf("%d rounds: %d calls run where they were received, %d handed to workers", rounds, ranHere, handed)
			if blocked && handed > 0 {
				t.Errorf("%d batches handed to workers while the other thread waits, want none", handed)
			}
			// A round's batch that finds the thread's worker still at
			// the round before joins its queue: no hand-off of its own.
			if !blocked && handed == 0 {
				t.Errorf("no batch of %d rounds handed to workers while the other thread is in no call", rounds)
			}
			e.ok(1, unix.SYS_CLOSE, fd)
			if got, err := os.ReadFile(filepath.Join(e.root, "out")); err != nil || string(got) != want {
				t.Fatalf("the file holds %q, %v; want %q", got, err, want)
			}
			e.ok(1, unix.SYS_WRITE, wfd, m.alloc([]byte("x")), 1)
			if blocked {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				rep, err := e.conn.Await(ctx, read)
				if err != nil || rep.Errno != 0 || rep.Ret != 1 {
					t.Fatalf("the child's read: reply %v, %v; want 1 byte", rep, err)
				}
			}
		})
	}
}

// waitThreadBlocked waits until thread tid has a call it did not post in
// flight.
func waitThreadBlocked(t *testing.T, c *client, tid int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c.k.Mu.Lock()
		th := c.k.Threads[tid]
		blocked := th != nil && th.InFlight && c.calls[th] != nil && !c.calls[th].inFlightPosted
		c.k.Mu.Unlock()
		if blocked {
			return
		}
	}
	t.Fatalf("thread %d has no call in flight", tid)
}
