package server

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// Runs of posted attribute calls (package attrrun; docs/ARCHITECTURE.md,
// "Posted calls in batches"). tar restores a member's owner, mode and
// times with a posted chown, chmod and utimensat, which arrive together;
// each was a serial gofer SetStat that the thread's next waited call
// queued behind. A posted chown, chmod or utimensat by path of a regular
// file, and those that follow it in its thread's queue, make a run: each
// call's checks and request are its own, but its SetStat is held and
// merged with the next one's (attrrun.Merge) instead of sent. The run
// outlives the client's batch: while it holds a change that does not
// set the times yet (they come last) and the thread has nothing queued,
// the worker waits for the thread's next call, at
// most attrRunWait (the client's posted queue goes out after 2 ms, and
// may cut a member's calls in two); the run ends at the thread's next
// call that is not such a call, at another thread's call that waits for
// posted ones (awaitPostedLocked: it may observe the file), at the
// client's end, or when the wait runs out. The held changes (package
// kernel's attrrun.go: HoldAttrs, FlushAttrRun) are sent as one SetStat before the
// run's replies, before anything in the run reads the file's attributes
// (syscalls.StatOf: a chown's set-id rule), and before a change that cannot be
// merged (another file, a truncation, UTIME_NOW, one through an fd).
// The run's replies are sent only after that, so every call that waits
// for them (another thread's, a channel call) finds the changes made; a
// merged SetStat that fails is sent again part by part, so each call
// gets the result it would have had alone.

// attrRunCall says call may be part of a run: a posted attribute call.
func attrRunCall(call *sentrypb.Call) bool {
	sc := call.GetSyscall()
	return sc != nil && sc.Posted && kernel.AttrRunCalls[sc.Sysno]
}

// unlinkRunCall says call may hold its removal in a run of unlinks
// (kernel's unlinkrun.go): a posted unlink, unlinkat or rmdir.
func unlinkRunCall(call *sentrypb.Call) bool {
	sc := call.GetSyscall()
	return sc != nil && sc.Posted && kernel.UnlinkRunCall(sc.Sysno, sc.Args)
}

// unlinkRunGoesOn says call may follow a removal in a run of unlinks:
// another, or a posted close (GNU rm -r closes a directory's fd, then
// removes the directory). A close observes no name, and a removal is
// held only of a file that is not open, so the close changes nothing a
// held removal depends on.
func unlinkRunGoesOn(call *sentrypb.Call) bool {
	if unlinkRunCall(call) {
		return true
	}
	sc := call.GetSyscall()
	return sc != nil && sc.Posted && sc.Sysno == unix.SYS_CLOSE
}

// runGoesOn says call, the thread's next, joins run: a call of its kind.
func runGoesOn(run *attrRun, call *sentrypb.Call) bool {
	if run.Unlinks {
		return unlinkRunGoesOn(call)
	}
	return attrRunCall(call)
}

// attrRun is what a thread's run being executed holds back from the
// gofer (package kernel's AttrRun: the merged changes, their file and
// the replies of the calls that made them). Owned by the thread's worker
// goroutine (threadWorker and the handlers it runs, which find it in
// kernel.Task.AttrRun): no lock. The run's replies, sent at its end, are
// the front's (threadCalls.attrHeld).
type attrRun = kernel.AttrRun

// heldReply is a run's call's reply and seq.
type heldReply struct {
	r    *sentrypb.Reply
	call *sentrypb.Call
}

// attrRunWait bounds how long a run whose thread has nothing queued
// waits for the thread's next call (awaitRunLocked): longer than the
// client's posted queue waits before it goes out (transport's
// DefaultPostDelay, 2 ms), so that a batch the client's timer cut between a
// member's chown and chmod still merges them when the thread was
// descheduled for a few milliseconds. A variable for tests.
var attrRunWait = 10 * time.Millisecond

// startsAttrRun says the worker's call, posted, starts a run, and which:
// it is an attribute call followed in the thread's queue by another, or
// by nothing yet (the rest of the run may come in the client's next
// batch), or a removal followed by another or a close (a run of unlinks
// waits for no call: it ends with the thread's queue).
func startsAttrRun(call *sentrypb.Call, queue []*sentrypb.Call) *attrRun {
	switch {
	case attrRunCall(call) && (len(queue) == 0 || attrRunCall(queue[0])):
		return &attrRun{}
	case unlinkRunCall(call) && len(queue) > 0 && unlinkRunGoesOn(queue[0]):
		return &attrRun{Unlinks: true}
	}
	return nil
}

// runAttrCall is threadWorker's part of a run: call, posted, just ran
// with reply r. It reports whether call is part of a run: its reply is
// then held, and sent with the run's at its end (endAttrRunLocked).
func (c *client) runAttrCall(tc *threadCalls, call *sentrypb.Call, r *sentrypb.Reply) bool {
	if tc.attrRun == nil {
		return false
	}
	tc.attrHeld = append(tc.attrHeld, heldReply{r: r, call: call})
	return true
}

// endAttrRunLocked is threadWorker's check, before it takes the thread's
// next call, that the run tc holds (if any) goes on: only while the next
// call is another attribute call. A run that holds a change and finds
// the queue empty waits for the next call (awaitRunLocked), unless a
// call of another thread waits for posted calls or the change sets the
// times (attrrun.Pending.SetsTimes: the run is likely whole, and its
// replies, which the client's path cache may wait for, go at once); on
// a goroutine the worker borrowed (borrowed: a call channel's or the
// socket reader's), whose caller waits for it, a worker of the pool
// takes over the thread's calls first (handedOff). Otherwise the run
// ends: what it holds is sent, then its replies. It reports whether it
// released c.k.Mu meanwhile (it holds it again; the caller looks at the
// queue again). Precondition: c.k.Mu is held.
func (c *client) endAttrRunLocked(t *kernel.Thread, tc *threadCalls, borrowed bool) (unlocked, handedOff bool) {
	run := tc.attrRun
	if run == nil {
		return false, false
	}
	k := c.k
	if len(tc.queue) == 0 && !k.Destroyed && !run.Pending.Empty() && !run.Pending.SetsTimes() && c.postedWaiters == 0 && !tc.runWaited {
		if borrowed {
			k.Workers.Add(1)
			c.counts.handoffs.Add(1)
			c.s.workers.Go(func() { c.threadWorker(t, tc, false) })
			return false, true
		}
		// The batch's other posted replies go now: the client may wait
		// for one (a creation's, sentry/client's waitCreations).
		k.Mu.Unlock()
		c.stream.sendHeld()
		k.Mu.Lock()
		c.awaitRunLocked(tc)
		return true, false
	}
	if !k.Destroyed && len(tc.queue) > 0 && runGoesOn(run, tc.queue[0]) {
		tc.runWaited = false
		return false, false
	}
	var next *sentrypb.Call
	if !k.Destroyed && len(tc.queue) > 0 {
		next = tc.queue[0]
	}
	held := tc.attrHeld
	tc.attrRun, tc.attrHeld, tc.runWaited = nil, nil, false
	k.Mu.Unlock()
	c.endAttrRun(run, held, next)
	k.Mu.Lock()
	return true, false
}

// awaitRunLocked waits, at most attrRunWait, until tc's thread has a
// call queued, a call of another thread waits for posted calls
// (awaitPostedLocked), or the client is destroyed. Precondition: c.k.Mu
// is held (released while waiting).
func (c *client) awaitRunLocked(tc *threadCalls) {
	if c.runWake == nil {
		c.runWake = sync.NewCond(&c.k.Mu)
	}
	if tc.runTimer == nil {
		tc.runTimer = time.AfterFunc(attrRunWait, func() {
			c.k.Mu.Lock()
			tc.runExpired = true
			c.runWake.Broadcast()
			c.k.Mu.Unlock()
		})
	} else {
		tc.runTimer.Reset(attrRunWait)
	}
	tc.runExpired = false
	c.runsWaiting++
	for len(tc.queue) == 0 && !c.k.Destroyed && !tc.runExpired && c.postedWaiters == 0 {
		c.runWake.Wait()
	}
	c.runsWaiting--
	tc.runTimer.Stop()
	// Once per empty queue: the run ends if it is still empty.
	tc.runWaited = true
}

// wakeRunsLocked wakes the workers whose runs wait (awaitRunLocked): a
// call was queued, a call waits for posted ones, or the client is
// destroyed. Precondition: c.k.Mu is held.
func (c *client) wakeRunsLocked() {
	if c.runsWaiting > 0 {
		c.runWake.Broadcast()
	}
}

// endAttrRun sends what run holds, then its calls' replies, held, in
// order (next is the thread's next queued call: the last reply may wait
// for it), and marks its calls finished.
func (c *client) endAttrRun(run *attrRun, held []heldReply, next *sentrypb.Call) {
	if c.postAttrRun(run, held) {
		return
	}
	c.k.FlushAttrRun(run)
	for i, h := range held {
		n := next
		if i+1 < len(held) {
			n = held[i+1].call
		}
		c.stream.replyPosted(h.r, n, replyCanWait(h.call))
		c.k.Mu.Lock()
		c.postedFinishedLocked(h.call.Seq)
		c.k.Mu.Unlock()
	}
}

// postAttrRun ends a run whose held changes may ride the gofer's next
// call (kernel.PostAttrRun): its replies, held, are sent once the
// gofer's result came, with each call's errno as if it had waited (until
// then the client keeps the calls for a replay), and only then are its
// calls finished, as a run's that waited: a call waiting for posted ones
// (awaitPostedLocked) has the change sent at once rather than waiting
// for a call to carry it. It reports whether it did (else nothing was
// done).
func (c *client) postAttrRun(run *attrRun, held []heldReply) bool {
	k := c.k
	k.Workers.Add(1) // destroy waits for the replies
	posted := k.PostAttrRun(run, func() {
		defer k.Workers.Done()
		c.counts.attrsPosted.Add(1)
		for i, h := range held {
			// In one message: each but the last is followed by the
			// next (the thread's next calls were answered meanwhile).
			var next *sentrypb.Call
			if i+1 < len(held) {
				next = held[i+1].call
			}
			c.stream.replyPosted(h.r, next, replyCanWait(h.call))
		}
		k.Mu.Lock()
		for _, h := range held {
			c.postedFinishedLocked(h.call.Seq)
		}
		k.Mu.Unlock()
	})
	if !posted {
		k.Workers.Done()
	}
	return posted
}

// receivePostedBatch admits and queues the posted calls one frame
// carried, and only then starts the workers of their threads, so that a
// worker finds a run whole in its queue.
func (c *client) receivePostedBatch(sess *session, calls []*sentrypb.Call) {
	start, inline := c.queuePostedBatch(sess, calls)
	// One thread's calls that only touch memory (a loop of umasks) run
	// here, as enqueue runs one such call: a worker's wake-up would cost
	// more than the calls.
	if len(start) == 1 && inline {
		c.counts.here.Add(1)
		c.threadWorker(start[0].t, start[0].tc, true)
		return
	}
	c.startPostedWorkers(start)
}

// postedWorker is a thread whose worker a batch of posted calls starts.
type postedWorker struct {
	t  *kernel.Thread
	tc *threadCalls
}

// queuePostedBatch admits calls, posted calls that came together, and
// queues them on their threads (a call that is not a thread's posted
// system call is queued alone: enqueue). It returns the threads whose
// workers the caller starts (each marked running), and whether their
// queues hold only inlineSyscalls.
func (c *client) queuePostedBatch(sess *session, calls []*sentrypb.Call) (start []postedWorker, inline bool) {
	k := c.k
	k.Mu.Lock()
	defer k.Mu.Unlock()
	for _, call := range calls {
		if k.Destroyed {
			break
		}
		k.Mu.Unlock()
		admitted := c.admitCall(sess, call)
		k.Mu.Lock()
		if !admitted {
			continue
		}
		t := k.Threads[call.Tid]
		if t == nil || call.GetSyscall() == nil || !isPosted(call) {
			// Not a thread's posted system call: as one alone.
			k.Mu.Unlock()
			c.enqueue(call)
			k.Mu.Lock()
			continue
		}
		tc := c.callsOfLocked(t)
		tc.queue = append(tc.queue, call)
		c.notePostedLocked(call.Seq, call.Tid)
		c.wakeRunsLocked()
		if !tc.running {
			tc.running = true
			k.Workers.Add(1)
			start = append(start, postedWorker{t, tc})
		}
	}
	inline = true
	for _, w := range start {
		inline = inline && allInline(w.tc.queue)
	}
	return start, inline
}

// startPostedWorkers starts the workers queuePostedBatch returned.
func (c *client) startPostedWorkers(start []postedWorker) {
	c.counts.handoffs.Add(uint64(len(start)))
	for _, w := range start {
		c.s.workers.Go(func() { c.threadWorker(w.t, w.tc, false) })
	}
}
