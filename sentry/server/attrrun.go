package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// Runs of posted attribute calls (package attrrun; docs/ARCHITECTURE.md,
// "Posted calls in batches"). tar restores a member's owner, mode and
// times with a posted chown, chmod and utimensat, which arrive together;
// each was a serial gofer SetStat that the thread's next waited call
// queued behind. While a posted chown, chmod or utimensat by path of a
// regular file is followed in its thread's queue by another, the thread's
// worker runs them as a run: each call's checks and request are its own,
// but its SetStat is held and merged with the next one's (attrrun.Merge)
// instead of sent. The held changes are sent as one SetStat before the
// run's replies, before anything in the run reads the file's attributes
// (statOf: a chown's set-id rule), and before a change that cannot be
// merged (another file, a truncation, UTIME_NOW, one through an fd).
// The run's replies are sent only after that, so every call that waits
// for them (another thread's, a channel call) finds the changes made; a
// merged SetStat that fails is sent again part by part, so each call
// gets the result it would have had alone.

// attrRunCalls are the calls a run is made of.
var attrRunCalls = map[int32]bool{
	unix.SYS_CHOWN: true, unix.SYS_LCHOWN: true, unix.SYS_FCHOWNAT: true,
	unix.SYS_CHMOD: true, unix.SYS_FCHMODAT: true, unix.SYS_UTIMENSAT: true,
}

// attrRunCall says call may be part of a run: a posted attribute call.
func attrRunCall(call *sentrypb.Call) bool {
	sc := call.GetSyscall()
	return sc != nil && sc.Posted && attrRunCalls[sc.Sysno]
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

// holdAttrs holds req, the SetStat of call c on dentry d (or open file
// f), in c's thread's run, if c is part of one and req may wait, and
// reports whether it did. Changes held before that req may not join are
// sent first, so the gofer sees the changes in the calls' order. req has
// its handle and Origin.
func holdAttrs(c *syscallCtx, d *dentry, f *file, req *goferpb.SetStatRequest) bool {
	if c.AttrRun == nil || !attrRunCalls[c.Sysno] {
		return false
	}
	run := c.AttrRun
	if f != nil || d == nil || !d.IsRegular() || (run.Dentry != nil && run.Dentry != d) {
		flushAttrRun(c.Kernel, run)
		return false
	}
	if !run.Pending.Add(req) {
		flushAttrRun(c.Kernel, run)
		if !run.Pending.Add(req) {
			return false
		}
	}
	if run.Dentry == nil {
		// The handle must outlive the handler (whose pin ends with
		// it) until the held change is sent.
		if h, err := c.Kernel.VFS.PinHandle(d); err != nil || h != req.Handle {
			if err == nil {
				c.Kernel.VFS.Unpin(d)
			}
			run.Pending.Take()
			return false
		}
		run.Dentry = d
	}
	run.PartReplies = append(run.PartReplies, c.Reply)
	return true
}

// flushAttrRunOf sends the changes the run c is part of holds, if any:
// c is about to read attributes.
func flushAttrRunOf(c *syscallCtx) {
	if c != nil && c.AttrRun != nil {
		flushAttrRun(c.Kernel, c.AttrRun)
	}
}

// flushAttrRun sends the changes run holds: one SetStat, or, if that
// fails, each call's own in order (their errors go into their held
// replies, as a posted call's failure: logged).
func flushAttrRun(k *clientState, run *attrRun) {
	if run.Pending.Empty() {
		return
	}
	merged, parts := run.Pending.Take()
	d, replies := run.Dentry, run.PartReplies
	run.Dentry, run.PartReplies = nil, nil
	defer k.VFS.Unpin(d)
	if len(parts) > 1 && setStatHeld(k, d, merged) == nil {
		for _, p := range parts {
			inotifyEvent(k, d, inotifyStatEvents(p.Mask))
		}
		return
	}
	for i, p := range parts {
		if err := setStatHeld(k, d, p); err != nil {
			replies[i].Errno, replies[i].Ret = int32(syserr.ErrnoOf(err)), 0
			k.Log.Warn("a posted call failed after the application was told it succeeded", "seq", replies[i].Seq, "err", err)
			continue
		}
		inotifyEvent(k, d, inotifyStatEvents(p.Mask))
	}
}

// setStatHeld sends req, a held change of d, and records the attributes
// it left.
func setStatHeld(k *clientState, d *dentry, req *goferpb.SetStatRequest) error {
	ctx, cancel := k.VFS.RPCCtx()
	defer cancel()
	r, err := k.Gofer.SetStat(ctx, req)
	if err := syserr.FromGofer("setstat", r.GetErrno(), err); err != nil {
		return err
	}
	k.VFS.NoteAttrs(d, r.Stat)
	return nil
}

// runAttrCall is threadWorker's part of a run: call, posted, just ran
// with reply r, and next is the thread's next queued call (nil: none).
// It reports whether call is part of a run (its reply is then held, or
// sent with the run's at its end).
func (c *client) runAttrCall(tc *threadCalls, call *sentrypb.Call, r *sentrypb.Reply, next *sentrypb.Call) bool {
	run := tc.attrRun
	if run == nil {
		return false
	}
	tc.attrHeld = append(tc.attrHeld, heldReply{r: r, call: call})
	if next != nil && attrRunCall(next) {
		return true
	}
	held := tc.attrHeld
	tc.attrRun, tc.attrHeld = nil, nil
	c.endAttrRun(run, held, next)
	return true
}

// endAttrRun sends what run holds, then its calls' replies, held, in
// order (next is the thread's next queued call: the last reply may wait
// for it), and marks its calls finished.
func (c *client) endAttrRun(run *attrRun, held []heldReply, next *sentrypb.Call) {
	flushAttrRun(c.k, run)
	for i, h := range held {
		n := next
		if i+1 < len(held) {
			n = held[i+1].call
		}
		c.stream.replyPosted(h.r, n)
		c.k.Mu.Lock()
		c.postedFinishedLocked(h.call.Seq)
		c.k.Mu.Unlock()
	}
}

// receivePostedBatch admits and queues the posted calls one frame
// carried, and only then starts the workers of their threads, so that a
// worker finds a run whole in its queue.
func (c *client) receivePostedBatch(sess *session, calls []*sentrypb.Call) {
	type worker struct {
		t  *thread
		tc *threadCalls
	}
	var start []worker
	k := c.k
	k.Mu.Lock()
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
		c.notePostedLocked(call.Seq)
		if !tc.running {
			tc.running = true
			k.Workers.Add(1)
			start = append(start, worker{t, tc})
		}
	}
	// One thread's calls that only touch memory (a loop of umasks) run
	// here, as enqueue runs one such call: a worker's wake-up would cost
	// more than the calls.
	here := len(start) == 1 && allInline(start[0].tc.queue)
	k.Mu.Unlock()
	if here {
		c.threadWorker(start[0].t, start[0].tc)
		return
	}
	for _, w := range start {
		c.s.workers.Go(func() { c.threadWorker(w.t, w.tc) })
	}
}
