package transport

import (
	"context"
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestMergePosted: MergePosted changes a queued posted call only while it
// is the queue's last, unsent, and the queue is not due; the bytes it
// adds count towards the batch's flush threshold, which sends the queue
// at once.
func TestMergePosted(t *testing.T) {
	grow := func(call *pb.Call, n int) func() int {
		return func() int {
			in := call.GetSyscall().Inputs[0]
			in.Data = append(in.Data, make([]byte, n)...)
			return n
		}
	}
	tests := []struct {
		name string
		// setup queues calls (the last one is merged into unless
		// target says otherwise) with the send lock held, and may
		// age the queue.
		queued     int
		target     int // index of the call merged into
		due        bool
		added      int
		sentBefore bool // the queue is sent before the merge
		wantMerged bool
		wantSent   bool // the merge sent the queue
	}{
		{name: "last queued call", queued: 2, target: 1, added: 100, wantMerged: true},
		{name: "a call queued after it", queued: 2, target: 0, added: 100},
		{name: "already sent", queued: 1, target: 0, added: 100, sentBefore: true},
		{name: "queue due", queued: 1, target: 0, added: 100, due: true},
		{name: "fills the batch", queued: 1, target: 0, added: postedFlushBytes, wantMerged: true, wantSent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &batchServer{}
			// A long delay: the timer sends nothing during the test.
			c := dialBatchServerWith(t, s, Options{PostDelay: 10 * time.Second})
			var calls []*pb.Call
			for range tc.queued {
				call := postedCall()
				calls = append(calls, call)
				if err := c.Post(call); err != nil {
					t.Fatal(err)
				}
			}
			if tc.sentBefore {
				if err := c.SendPosted(); err != nil {
					t.Fatal(err)
				}
			}
			if tc.due {
				c.sendMu.Lock()
				c.postQSince = time.Now().Add(-c.postDelay)
				c.sendMu.Unlock()
			}
			target := calls[tc.target]
			c.sendMu.Lock()
			bytesBefore := c.postQBytes
			c.sendMu.Unlock()
			ran := false
			merge := grow(target, tc.added)
			merged, err := c.MergePosted(target, mergeFunc(func() int { ran = true; return merge() }))
			if err != nil {
				t.Fatal(err)
			}
			if merged != tc.wantMerged || ran != tc.wantMerged {
				t.Fatalf("MergePosted: merged %v (merge ran %v), want %v", merged, ran, tc.wantMerged)
			}
			c.sendMu.Lock()
			queued, bytesAfter := len(c.postQ), c.postQBytes
			c.sendMu.Unlock()
			switch {
			case tc.wantSent:
				if queued != 0 {
					t.Errorf("%d calls still queued after a merge filled the batch, want none", queued)
				}
				waitFor(t, "the filled batch", func() bool { return s.postedSeen() == tc.queued })
			case tc.wantMerged:
				if bytesAfter != bytesBefore+tc.added {
					t.Errorf("queue bytes %d after the merge, want %d", bytesAfter, bytesBefore+tc.added)
				}
			default:
				if bytesAfter != bytesBefore {
					t.Errorf("queue bytes %d after a refused merge, want %d", bytesAfter, bytesBefore)
				}
			}
			// The merged call goes as it is now.
			if _, err := c.Call(context.Background(), &pb.Call{Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 2}}}); err != nil {
				t.Fatal(err)
			}
			if got := s.postedSeen(); got != tc.queued {
				t.Errorf("%d posted calls reached the server, want %d", got, tc.queued)
			}
		})
	}
}

// mergeFunc is a Merger of a function.
type mergeFunc func() int

func (f mergeFunc) Merge() int { return f() }

// TestDeadQueueRefusesMergeAndTakeBack: once the connection died, a call
// posted is not queued, so the queue's last call is no longer the last
// posted; MergePosted and UnqueuePosted must not change it (a write
// merged across the lseek posted after it landed at the lseek's old
// offset when the recovery re-sent both in seq order).
func TestDeadQueueRefusesMergeAndTakeBack(t *testing.T) {
	s := &batchServer{}
	c := dialBatchServerWith(t, s, Options{PostDelay: 10 * time.Second})
	write := postedCall()
	if err := c.Post(write); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.Post(postedCall()); err == nil {
		t.Fatal("a call was posted on a dead connection")
	}
	c.sendMu.Lock()
	last := len(c.postQ) > 0 && c.postQ[len(c.postQ)-1] == write
	c.sendMu.Unlock()
	if !last {
		t.Fatal("the dead connection's queue no longer ends with the write: the test's premise changed")
	}
	ran := false
	merged, _ := c.MergePosted(write, mergeFunc(func() int { ran = true; return 1 }))
	if merged || ran {
		t.Errorf("MergePosted on a dead connection: merged %v (merge ran %v), want neither", merged, ran)
	}
	if c.UnqueuePosted(write) {
		t.Error("UnqueuePosted took a call back from a dead connection")
	}
}
