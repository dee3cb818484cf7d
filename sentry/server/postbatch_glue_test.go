package server

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// batchTestClient starts a server on a fresh gofer and a client of it
// (fuzzClient's process), both closed when the test ends.
func batchTestClient(t testing.TB) (*Server, *client) {
	t.Helper()
	srv, err := New(Config{Gofer: startGofer(t, newRoot(t)), Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	fc := fuzzClient(t, srv)
	t.Cleanup(fc.destroy)
	return srv, fc
}

// TestPostedRepliesHeld runs a thread's queue of three posted calls
// followed by a waited one and looks at what the server sends on the
// socket: for a client that takes batches, the posted replies are held
// and ride in front of the waited call's reply, in seq order, or, when
// that call came over a call channel, go in one message before its reply
// goes on the channel; for a client that does not, each reply is a
// message of its own.
func TestPostedRepliesHeld(t *testing.T) {
	tests := []struct {
		name           string
		batch, channel bool
		// want are the messages sent on the socket: each the seqs of
		// its posted replies, then its own reply's.
		want [][]uint64
	}{
		{"batches", true, false, [][]uint64{{1, 2, 3, 4}}},
		{"batches, then a channel call", true, true, [][]uint64{{1, 2, 3}}},
		{"one at a time", false, false, [][]uint64{{1}, {2}, {3}, {4}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, fc := batchTestClient(t)
			k := fc.k
			fc.stream.postBatch = tc.batch
			var mu sync.Mutex
			var got [][]uint64
			fc.stream.setSender(func(m *sentrypb.ServerMessage) error {
				var seqs []uint64
				for _, r := range m.PostedReplies {
					seqs = append(seqs, r.Seq)
				}
				if r := m.GetReply(); r != nil {
					seqs = append(seqs, r.Seq)
				}
				if len(seqs) > 0 {
					mu.Lock()
					got = append(got, seqs)
					mu.Unlock()
				}
				return nil
			})
			call := func(seq uint64, posted bool) *sentrypb.Call {
				return &sentrypb.Call{Seq: seq, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
					Sysno: unix.SYS_FCNTL, Args: []uint64{0, unix.F_GETFD, 0, 0, 0, 0}, Posted: posted}}}
			}
			var route *hopRoute
			if tc.channel {
				route = &hopRoute{stamp: func() transport.HopStamp { return transport.HopStamp{} }, ch: make(chan hopResult, 1)}
				fc.stream.sendMu.Lock()
				fc.stream.hopRoutes = map[uint64]*hopRoute{4: route}
				fc.stream.sendMu.Unlock()
			}
			k.Mu.Lock()
			th := k.Threads[1]
			tcs := fc.callsOfLocked(th)
			for seq := uint64(1); seq <= 4; seq++ {
				c := call(seq, seq < 4)
				tcs.queue = append(tcs.queue, c)
				if seq < 4 {
					fc.notePostedLocked(seq, 0)
				}
			}
			tcs.running = true
			k.Workers.Add(1)
			k.Mu.Unlock()
			fc.threadWorker(th, tcs, true)
			if route != nil {
				select {
				case res := <-route.ch:
					if res.r.Seq != 4 {
						t.Errorf("the channel got the reply of seq %d, want 4", res.r.Seq)
					}
				default:
					t.Errorf("the channel call's reply did not go on its channel")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != len(tc.want) {
				t.Fatalf("sent %v, want %v", got, tc.want)
			}
			for i := range got {
				if len(got[i]) != len(tc.want[i]) {
					t.Fatalf("sent %v, want %v", got, tc.want)
				}
				for j := range got[i] {
					if got[i][j] != tc.want[i][j] {
						t.Fatalf("sent %v, want %v", got, tc.want)
					}
				}
			}
			k.Mu.Lock()
			left := len(fc.postedOut)
			k.Mu.Unlock()
			if left != 0 {
				t.Errorf("%d posted calls still counted unfinished", left)
			}
		})
	}
}

// TestPostedBatchRecordsOnce runs a thread's queue of posted umasks and
// counts the "fs/" records the server sends: one for the batch (with the
// last umask), not one per call, and after every reply of the batch in
// the frame that carries them (a record folded before a reply could be
// lost: the client ignores the records of what a posted call without a
// reply changes). However the held replies leave: in front of the run's
// last reply, which carries the record, or, when the client said a
// channel call follows (so every reply is held), in front of a
// StateUpdate before a heartbeat's answer (a reply without the record of
// its change would be lost to a recovery).
func TestPostedBatchRecordsOnce(t *testing.T) {
	const calls = 20
	for _, heartbeat := range []bool{false, true} {
		name := "run ends"
		if heartbeat {
			name = "heartbeat carries them"
		}
		t.Run(name, func(t *testing.T) {
			_, fc := batchTestClient(t)
			k := fc.k
			fc.stream.postBatch, fc.stream.channelPosted = true, true
			// What fuzzClient's set-up touched goes first.
			fc.stream.sendMu.Lock()
			fc.stream.records(0, false)
			fc.stream.channelFollows = heartbeat
			fc.stream.sendMu.Unlock()
			// events are what the client would handle, in order: a
			// reply's seq, or 0 for a record of the fs context.
			var mu sync.Mutex
			var events []uint64
			var umask uint32
			var frames int
			fc.stream.setSender(func(m *sentrypb.ServerMessage) error {
				mu.Lock()
				defer mu.Unlock()
				frames++
				fold := func(recs []*sentrypb.StateRecord) {
					for _, rec := range recs {
						if fs := rec.GetFs(); fs != nil {
							events = append(events, 0)
							umask = fs.Umask
						}
					}
				}
				for _, r := range m.PostedReplies {
					fold(r.State)
					events = append(events, r.Seq)
				}
				if r := m.GetReply(); r != nil {
					fold(r.State)
					events = append(events, r.Seq)
				}
				fold(m.GetPush().GetState().GetRecords())
				return nil
			})
			fc.stream.sendMu.Lock()
			fc.stream.channelFollows = heartbeat
			fc.stream.sendMu.Unlock()
			k.Mu.Lock()
			th := k.Threads[1]
			tcs := fc.callsOfLocked(th)
			for seq := uint64(1); seq <= calls; seq++ {
				tcs.queue = append(tcs.queue, &sentrypb.Call{Seq: seq, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
					Sysno: unix.SYS_UMASK, Args: []uint64{seq & 0o777, 0, 0, 0, 0, 0}, Posted: true}}})
				fc.notePostedLocked(seq, 0)
			}
			tcs.running = true
			k.Workers.Add(1)
			k.Mu.Unlock()
			fc.threadWorker(th, tcs, true)
			if heartbeat {
				mu.Lock()
				n := len(events)
				mu.Unlock()
				if n != 0 {
					t.Fatalf("%d replies or records sent while a channel call was said to follow, want all held", n)
				}
				fc.stream.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Heartbeat{Heartbeat: &sentrypb.Heartbeat{}}})
			}
			mu.Lock()
			defer mu.Unlock()
			wantFrames := 1
			if heartbeat {
				wantFrames = 2 // the replies and the StateUpdate, the answer
			}
			if frames != wantFrames {
				t.Errorf("%d frames sent, want %d", frames, wantFrames)
			}
			var replies []uint64
			records := 0
			for i, e := range events {
				if e != 0 {
					replies = append(replies, e)
					continue
				}
				records++
				if len(replies) < calls-1 || (!heartbeat && i != len(events)-2) {
					t.Errorf("the fs record comes after %d replies (events %v), want after the batch's", len(replies), events)
				}
			}
			if len(replies) != calls {
				t.Fatalf("%d replies sent, want %d", len(replies), calls)
			}
			for i, s := range replies {
				if s != uint64(i+1) {
					t.Fatalf("reply %d has seq %d", i, s)
				}
			}
			if records != 1 {
				t.Errorf("%d fs records for a batch of %d umasks, want 1", records, calls)
			}
			if umask != calls&0o777 {
				t.Errorf("the fs record says umask %#o, want the last call's %#o", umask, calls&0o777)
			}
		})
	}
}

// TestPostedBatchInline: a frame's posted calls of one thread that only
// touch memory (umask) run on the receiving goroutine, as one such call
// does: no worker is started or woken, and the batch's replies are sent
// when the frame is handled. A batch with a call that may reach the gofer
// (a posted fcntl here) goes to a worker. The server's allocations per
// posted umask are counted too (the client takes results packed).
func TestPostedBatchInline(t *testing.T) {
	const calls = 64
	for _, tc := range []struct {
		name    string
		sysno   int32
		inline  bool
		allocs  float64
		measure bool
	}{
		// The batch's share of the replies' frame: 0.2 (2.2 when the
		// reply was apart from the syscall context; 1.3 while a held
		// result kept the context, a Task of 1 KB, which
		// postbatch.HoldDone lets the thread reuse).
		{"umask", unix.SYS_UMASK, true, 0.5, true},
		{"fcntl", unix.SYS_FCNTL, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, fc := batchTestClient(t)
			fc.stream.postBatch, fc.stream.channelPosted = true, true
			// As for sentry/client, which takes results packed.
			fc.stream.postedHeld.Packed = true
			var mu sync.Mutex
			var replies int
			fc.stream.setSender(func(m *sentrypb.ServerMessage) error {
				mu.Lock()
				defer mu.Unlock()
				replies += len(m.PostedReplies) + len(m.GetPostedDone().GetSeq())
				if m.GetReply() != nil {
					replies++
				}
				return nil
			})
			sess := &session{}
			seq := uint64(0)
			batch := func() []*sentrypb.Call {
				b := make([]*sentrypb.Call, calls)
				for i := range b {
					seq++
					args := []uint64{0o22, 0, 0, 0, 0, 0}
					if tc.sysno == unix.SYS_FCNTL {
						args = []uint64{0, unix.F_GETFD, 0, 0, 0, 0}
					}
					b[i] = &sentrypb.Call{Seq: seq, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: tc.sysno, Args: args, Posted: true}}}
				}
				return b
			}
			fc.receivePostedBatch(sess, batch())
			mu.Lock()
			sent := replies
			mu.Unlock()
			started := srv.workers.Started()
			if tc.inline && (started != 0 || sent != calls) {
				t.Errorf("a batch of %d posted umasks started %d workers and had %d replies sent on return, want none and all", calls, started, sent)
			}
			if !tc.inline && started != 1 {
				t.Errorf("a batch of %d posted fcntls started %d workers, want 1", calls, started)
			}
			if !tc.measure {
				return
			}
			const runs = 20
			batches := make([][]*sentrypb.Call, runs+1)
			for i := range batches {
				batches[i] = batch()
			}
			i := 0
			perCall := testing.AllocsPerRun(runs, func() {
				fc.receivePostedBatch(sess, batches[i])
				i++
			}) / calls
			t.Logf("%.1f allocations per posted %s", perCall, tc.name)
			if perCall > tc.allocs {
				t.Errorf("%.1f allocations per posted %s, want at most %v", perCall, tc.name, tc.allocs)
			}
		})
	}
}
