package server

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// sentFrame is what one message to the client carried, as a test sees
// it: the seqs of its posted replies, in any form, and of its reply,
// whether it had a push, and the fs records it folds (state_before and
// its reply's and push's).
type sentFrame struct {
	seqs    []uint64
	push    bool
	fsRecs  int
	stateIn bool // the records came in state_before
}

// frameRecorder records the messages a client's stream sends.
type frameRecorder struct {
	mu     sync.Mutex
	frames []sentFrame
}

func (fr *frameRecorder) send(m *sentrypb.ServerMessage) error {
	var f sentFrame
	countFS := func(recs []*sentrypb.StateRecord) {
		for _, rec := range recs {
			if rec.GetFs() != nil {
				f.fsRecs++
			}
		}
	}
	for _, r := range m.PostedReplies {
		f.seqs = append(f.seqs, r.Seq)
		countFS(r.State)
	}
	f.seqs = append(f.seqs, m.GetPostedDone().GetSeq()...)
	f.seqs = append(f.seqs, m.GetPostedWrites().GetSeq()...)
	countFS(m.StateBefore)
	f.stateIn = len(m.StateBefore) > 0
	if r := m.GetReply(); r != nil {
		f.seqs = append(f.seqs, r.Seq)
		countFS(r.State)
	}
	if p := m.GetPush(); p != nil {
		f.push = p.GetState() == nil
		countFS(p.GetState().GetRecords())
	}
	fr.mu.Lock()
	fr.frames = append(fr.frames, f)
	fr.mu.Unlock()
	return nil
}

func (fr *frameRecorder) take() []sentFrame {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	f := fr.frames
	fr.frames = nil
	return f
}

// runPosted queues calls on thread 1 of fc, posted, and runs its worker
// to the end of the queue.
func runPosted(fc *client, calls []*sentrypb.Call) {
	k := fc.k
	k.Mu.Lock()
	th := k.Threads[1]
	tcs := fc.callsOfLocked(th)
	for _, c := range calls {
		tcs.queue = append(tcs.queue, c)
		fc.notePostedLocked(c.Seq, 0)
	}
	tcs.running = true
	k.Workers.Add(1)
	k.Mu.Unlock()
	fc.threadWorker(th, tcs, true)
}

// postedUmask is thread 1's posted umask(mask), seq seq, its reply
// marked one the client lets wait (canWait) or not.
func postedUmask(seq uint64, mask uint64, canWait bool) *sentrypb.Call {
	return &sentrypb.Call{Seq: seq, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
		Sysno: unix.SYS_UMASK, Args: []uint64{mask, 0, 0, 0, 0, 0}, Posted: true, ReplyCanWait: canWait}}}
}

// postedBadClose is thread 1's posted close of an fd it does not have:
// a reply that fails (EBADF), marked one the client lets wait.
func postedBadClose(seq uint64) *sentrypb.Call {
	return &sentrypb.Call{Seq: seq, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
		Sysno: unix.SYS_CLOSE, Args: []uint64{999, 0, 0, 0, 0, 0}, Posted: true, ReplyCanWait: true}}}
}

// TestPostedRepliesLinger runs a batch of posted calls on a thread and
// looks at when their replies leave: a batch whose replies the client
// lets wait (Syscall.reply_can_wait) sends nothing at its end, and its
// replies ride in front of the next message (a push here), with the
// records of what they changed in that frame (state_before) when the
// client folds those; a batch holding one reply the client may wait for,
// or a failure, sends them all at its end, as does a client that asked
// for no linger. Without a next message the linger timer sends them.
func TestPostedRepliesLinger(t *testing.T) {
	tests := []struct {
		name        string
		linger      time.Duration
		stateBefore bool
		calls       []*sentrypb.Call
		// atEnd are the frames sent by the batch's end, then the push's
		// (the push frame last).
		atEnd, withPush []sentFrame
	}{
		{
			name: "all can wait", linger: time.Minute, stateBefore: true,
			calls:    []*sentrypb.Call{postedUmask(1, 0o22, true), postedUmask(2, 0o27, true), postedUmask(3, 0o77, true)},
			withPush: []sentFrame{{seqs: []uint64{1, 2, 3}, push: true, fsRecs: 1, stateIn: true}},
		},
		{
			name: "all can wait, records in a StateUpdate of their own", linger: time.Minute,
			calls:    []*sentrypb.Call{postedUmask(1, 0o22, true), postedUmask(2, 0o27, true)},
			withPush: []sentFrame{{seqs: []uint64{1, 2}, fsRecs: 1}, {push: true}},
		},
		{
			name: "one the client may wait for", linger: time.Minute, stateBefore: true,
			calls:    []*sentrypb.Call{postedUmask(1, 0o22, true), postedUmask(2, 0o27, false), postedUmask(3, 0o77, true)},
			atEnd:    []sentFrame{{seqs: []uint64{1, 2, 3}, fsRecs: 1}},
			withPush: []sentFrame{{push: true}},
		},
		{
			name: "a failure", linger: time.Minute, stateBefore: true,
			calls:    []*sentrypb.Call{postedUmask(1, 0o22, true), postedBadClose(2)},
			atEnd:    []sentFrame{{seqs: []uint64{1, 2}, fsRecs: 1}},
			withPush: []sentFrame{{push: true}},
		},
		{
			name: "no linger asked", stateBefore: true,
			calls:    []*sentrypb.Call{postedUmask(1, 0o22, true), postedUmask(2, 0o27, true)},
			atEnd:    []sentFrame{{seqs: []uint64{1, 2}, fsRecs: 1}},
			withPush: []sentFrame{{push: true}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, fc := batchTestClient(t)
			var fr frameRecorder
			fc.stream.postBatch, fc.stream.postedHeld.Packed = true, true
			fc.stream.linger, fc.stream.stateBefore = tc.linger, tc.stateBefore
			fc.stream.setSender(fr.send)
			// What fuzzClient's set-up touched goes first.
			fc.stream.sendMu.Lock()
			fc.stream.records(0, false)
			fc.stream.sendMu.Unlock()
			runPosted(fc, tc.calls)
			checkFrames(t, "at the batch's end", fr.take(), tc.atEnd)
			fc.stream.Push(&sentrypb.Push{Msg: &sentrypb.Push_Durable{Durable: &sentrypb.Durable{}}})
			checkFrames(t, "with the next push", fr.take(), tc.withPush)
			fc.k.Mu.Lock()
			left := len(fc.postedOut)
			fc.k.Mu.Unlock()
			if left != 0 {
				t.Errorf("%d posted calls still counted unfinished", left)
			}
		})
	}
}

// TestPostedRepliesLingerTimer checks that lingering replies leave on
// their own once the linger passed, with no other message to carry them,
// and not before (the linger is long enough for the check to come
// first on a loaded machine).
func TestPostedRepliesLingerTimer(t *testing.T) {
	const linger = 300 * time.Millisecond
	_, fc := batchTestClient(t)
	var fr frameRecorder
	fc.stream.postBatch, fc.stream.postedHeld.Packed = true, true
	fc.stream.linger, fc.stream.stateBefore = linger, true
	fc.stream.setSender(fr.send)
	start := time.Now()
	runPosted(fc, []*sentrypb.Call{postedUmask(1, 0o22, true), postedUmask(2, 0o27, true)})
	if got := fr.take(); len(got) != 0 && time.Since(start) < linger {
		t.Fatalf("sent %+v at the batch's end, want nothing for %v", got, linger)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		fr.mu.Lock()
		n := len(fr.frames)
		fr.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if waited := time.Since(start); waited < linger {
		t.Errorf("the replies left after %v, want at least the linger, %v", waited, linger)
	}
	checkFrames(t, "by the timer", fr.take(), []sentFrame{{seqs: []uint64{1, 2}, fsRecs: 1}})
	if n := fc.stream.lingerSends.Load(); n != 1 {
		t.Errorf("%d linger sends, want 1", n)
	}
}

// checkFrames fails t unless got are want.
func checkFrames(t *testing.T, when string, got, want []sentFrame) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = len(g.seqs) == len(w.seqs) && g.push == w.push && g.fsRecs == w.fsRecs && g.stateIn == w.stateIn
		for j := 0; ok && j < len(g.seqs); j++ {
			ok = g.seqs[j] == w.seqs[j]
		}
	}
	if !ok {
		t.Errorf("%s: sent %+v, want %+v", when, got, want)
	}
}
