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
			ranHere, handed, relieved := c.counts.here.Load()-here, c.counts.handoffs.Load()-handoffs, c.counts.relieved.Load()
			e.ok(1, unix.SYS_CLOSE, fd)
			got, err := os.ReadFile(filepath.Join(e.root, "out"))
			if err != nil || string(got) != want.String() {
				t.Fatalf("the file holds %q, %v; want %q", got, err, want.String())
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
