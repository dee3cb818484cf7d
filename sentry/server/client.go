package server

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/durable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/synth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/handlebind"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/lease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mapped"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mqueue"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/sysvipc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

var errNoStream = errors.New("client has no stream")

// client is the front's side of one client (one of Server.clients): its
// stream and the dispatch of its calls to its kernel, k (serve and the
// receiving goroutine's routing, enqueue, the workers, hop.go, posted.go,
// attrrun.go's runs). The kernel names nothing of it: it sends through
// k.out, the same stream as a kernel.Sender, and tells the front nothing
// else.
type client struct {
	// k is the client's kernel, s the server. Immutable.
	k *kernel.Kernel
	s *Server
	// stream is the client's stream and what is ordered with it
	// (session.go). Immutable pointer.
	stream *clientStream

	// The dispatch state below is protected by k.Mu, the kernel lock: a
	// call's thread is found, and its death seen, under it.

	// auxQ holds Rewrite calls, run one at a time in arrival order by one
	// worker while auxRunning.
	auxQ       []*sentrypb.Call
	auxRunning bool
	// runWake (on k.Mu) wakes the workers whose runs of attribute calls
	// wait for their threads' next calls (attrrun.go), runsWaiting
	// of them; postedWaiters counts the calls waiting for posted ones
	// (awaitPostedLocked), which such a run does not keep waiting.
	runWake                    *sync.Cond
	runsWaiting, postedWaiters int
	// postedOut holds the seqs of the posted calls (Syscall.posted) that
	// arrived and have not finished, with their threads' tids; a waited
	// call of a thread waits until none below its seq is left, a posted
	// one marked after_posted until none of another thread's (posted.go).
	// postedDone (on k.Mu) is signalled when one finishes or the client
	// is destroyed.
	postedOut  map[uint64]int32
	postedDone *sync.Cond
	// calls holds each thread's dispatch record, made at its first call
	// (callsOfLocked); a record whose thread the kernel no longer has is
	// dropped once idle when the map outgrows the kernel's threads.
	calls map[*kernel.Thread]*threadCalls

	// counts are what dispatching the client's calls cost in goroutine
	// hand-offs (logged at the client's end; tests). Atomic.
	counts dispatchCounts
}

// dispatchCounts count how the calls of a client reached the goroutines
// that ran them: postedFrames are the socket frames that carried posted
// calls, handoffs the thread workers handed to the pool (a goroutine
// woken or started), here the threads' calls the receiving goroutine
// (the socket reader, a call channel's) ran itself, relieved the
// readers whose batch ran so long that another goroutine took the
// reading over (readerrun.go). Atomic.
type dispatchCounts struct {
	postedFrames, handoffs, here, relieved atomic.Uint64
	// attrsPosted counts the runs of attribute calls whose SetStat
	// rode the gofer's next call or went alone after it
	// (postAttrRun).
	attrsPosted atomic.Uint64
}

// maxKeptQueue bounds the array a thread's idle queue keeps.
const maxKeptQueue = 64

// threadCalls is the front's record of one thread's calls: those queued
// and the one in flight. Its fields are protected by the kernel lock
// (k.Mu) but attrRun and attrHeld, the worker's own.
type threadCalls struct {
	// queue holds calls not yet started; running says a worker drains
	// it (threadWorker).
	queue   []*sentrypb.Call
	running bool
	// intr is closed to interrupt the call in flight; nil when none is.
	// intrSpare is the last call's, not closed, for the next call.
	intr, intrSpare chan struct{}
	// intrPending interrupts the next queued call that is not posted.
	intrPending bool
	// inFlightPosted says the call in flight is posted (Syscall.posted).
	inFlightPosted bool
	// attrRun is what the run of posted attribute calls the thread's
	// worker is executing holds back (attrrun.go), nil when none;
	// attrHeld are the run's replies, sent at its end; runWaited says
	// the run waited for the thread's next call since its last call;
	// runTimer ends such a wait (awaitRunLocked), made at the first.
	// Owned by the worker goroutine: no lock.
	attrRun   *attrRun
	attrHeld  []heldReply
	runWaited bool
	runTimer  *time.Timer
	// runExpired says runTimer fired (k.Mu, as the queue).
	runExpired bool
	// task is the Task the call in flight runs in (execThreadCall; nil
	// for a call that is no system call). spareTask is a Task no call
	// uses any more, zeroed, for the next system call: the Task of a
	// posted write whose reply went packed, which left nothing pointing
	// at it (its reply's values were copied into the batch's packed
	// writes, its effects taken from the tracker; replyPosted). Owned by
	// the worker goroutine: no lock.
	task, spareTask *kernel.Task
}

// callsOfLocked returns t's dispatch record, made if t has none.
// Precondition: c.k.Mu is held.
func (c *client) callsOfLocked(t *kernel.Thread) *threadCalls {
	if tc := c.calls[t]; tc != nil {
		return tc
	}
	if c.calls == nil {
		c.calls = make(map[*kernel.Thread]*threadCalls)
	}
	if len(c.calls) >= 2*len(c.k.Threads)+16 {
		// Drop the records of the threads the kernel freed: no call
		// finds them (it looks its thread up in the kernel's table
		// first). Amortized: the map at least doubled since.
		for th, tc := range c.calls {
			if !tc.running && c.k.Threads[th.TID] != th {
				delete(c.calls, th)
			}
		}
	}
	tc := &threadCalls{}
	c.calls[t] = tc
	return tc
}

// openClient makes a client: its stream, then its kernel wired to it, and
// starts the kernel.
func openClient(s *Server, hello *sentrypb.Hello, g grant) (*client, error) {
	st := &clientStream{ownRevokes: hello.GetOwnRevokes(), mayLend: g.operator}
	k, err := newClientState(s, hello, g, st, st.kickLeaseRevokes)
	if err != nil {
		return nil, err
	}
	st.records, st.log, st.done, st.leaseHolder = func(seq uint64, reply bool) []*sentrypb.StateRecord { return k.RecordsSince(seq, reply) }, k.Log, k.Done, k.LeaseHolder
	st.effectRecords = func(seq uint64) []*sentrypb.StateRecord { return k.EffectRecords(seq) }
	st.packedWrite = k.TakePackedWrite
	if err := startBackground(k); err != nil {
		return nil, err
	}
	return &client{k: k, s: s, stream: st}, nil
}

// releaseDelay is how long a gofer handle a client no longer needs may
// wait for others to be released with it (goferclient.ReleaseQueue); a
// variable for tests.
var releaseDelay = 20 * time.Millisecond

// newClientState makes a client's kernel, which sends on out (the front's
// stream) and calls leaseRevoked when the client's read leases have
// revocations to send. It starts nothing and sends nothing: start does,
// once the front has wired out to it (startBackground).
func newClientState(s *Server, hello *sentrypb.Hello, g grant, out kernel.Sender, leaseRevoked func(urgent bool)) (*kernel.Kernel, error) {
	ctx, cancel := context.WithCancel(context.Background())
	id := hello.ClientId
	if id == "" {
		id = fmt.Sprintf("anon-%p", hello)
	}
	k := &kernel.Kernel{
		ID:       id,
		Grant:    g,
		OriginID: g.Principal() + "/" + id,
		Log:      s.log.With("client", id),
		Gofer:    s.cfg.Gofer,
		Ctx:      ctx,
		Cancel:   cancel,
		Done:     make(chan struct{}),
		Procs:    make(map[int32]*kernel.Process),
		Threads:  make(map[int32]*kernel.Thread),
		Trk:      kernel.NewTracker(),
		Clocks:   ktimer.NewClocks(hello.Clocks.GetRealtime(), hello.Clocks.GetMonotonic(), hello.Clocks.GetBoottime()),

		Unsupported:  &s.enosys,
		StraceOn:     s.cfg.Strace,
		HostNet:      s.cfg.Network == NetworkHost,
		PostSetStats: !s.cfg.NoPostedSetStats,
		Attrs:        s.attrs,
		ReadLeases:   s.leases,
		Out:          out,
	}
	k.FatalSignalsToClient = hello.GetFeatures()&sentrypb.FeatureFatalSignals != 0
	k.Files = kernelFiles{k}
	k.Ctx = goferclient.WithRemovals(k.Ctx, &k.OwnRemovals)
	initReadLeases(k, hello, leaseRevoked)
	k.PageWriteSlots = make(chan struct{}, kernel.MaxPageWritesInFlight)
	k.Mem = memacct.NewAccount(s.cfg.MaxClientMemory)
	k.Releases = goferclient.NewReleaseQueue(k.Gofer, k.Log, releaseDelay)
	k.Locks = filelock.NewTable[*fdtable.Table, *fdesc.File](k.Trk.TouchLocks)
	k.IPC = sysvipc.NewRegistry(sysvipc.Hooks{Changed: k.Trk.TouchSysv, Memory: k.Mem})
	k.MQ = mqueue.NewRegistry(mqueue.Hooks{Changed: k.Trk.TouchMqueue, Memory: k.Mem, FileID: k.FileID})
	k.Ptys.Changed = k.Trk.TouchPty
	k.Leases = lease.NewTable[*fdesc.File]()
	k.Dur = durable.NewTracker[*fdesc.File]()
	if hello.GetFeatures()&sentrypb.FeatureDurableHeld != 0 {
		k.Dur.PassFailed()
	}
	for _, si := range hello.Stdio {
		if si != nil && si.Fd >= 0 && si.Fd < 3 {
			k.Stdio[si.Fd] = si
		}
	}
	k.TTY.Init(k.Stdio)
	if err := k.ApplySysctls(hello.Sysctls); err != nil {
		cancel()
		return nil, err
	}
	devNodes, err := synth.CheckDevNodes(hello.Devices)
	if err != nil {
		cancel()
		return nil, err
	}
	k.DevNodes = devNodes
	if k.SandboxNet, err = s.sandboxNetwork(hello.Network); err != nil {
		cancel()
		return nil, err
	}
	k.Maps = mapped.NewTable[*fdesc.File](k.Trk.TouchMapped)
	v, bindingKey, err := vfs.New(vfs.Config{Ctx: k.Ctx, Gofer: k.Gofer, Releases: k.Releases, Attrs: s.attrs,
		ClientID: k.ID, Log: k.Log, Kernel: k})
	if err != nil {
		cancel()
		return nil, err
	}
	k.VFS = v
	k.Synth = synth.New(v, k.SynthKernel(), k.DevNodes, &k.Ptys, synth.BornNs(hello.Clocks))
	k.Binder = handlebind.New(bindingKey, k.OriginID)
	return k, nil
}

// startBackground starts what runs on its own in the kernel: the sandbox network's
// stack, which answers ARP and pings before any socket exists, and the
// flusher (package kernel's durable.go). On an error the kernel is unusable.
func startBackground(k *kernel.Kernel) error {
	if k.SandboxNet != nil {
		if _, err := k.NetStack(); err != nil {
			k.Cancel()
			return fmt.Errorf("sandbox network: %w", err)
		}
	}
	k.Workers.Add(1)
	go func() {
		defer k.Workers.Done()
		k.Flusher()
	}()
	return nil
}

// destroy frees everything held for the client: its kernel, then its
// place among the server's clients. It is idempotent.
func (c *client) destroy() {
	k := c.k
	var d kernel.Deferred
	if !beginDestroy(k, &d) {
		return
	}
	// Calls waiting for posted ones return (awaitPostedLocked sees the
	// kernel destroyed), before destroy waits for the workers.
	k.Mu.Lock()
	c.postedOut = nil
	if c.postedDone != nil {
		c.postedDone.Broadcast()
	}
	c.wakeRunsLocked()
	k.Mu.Unlock()
	endDestroy(k, &d)
	c.s.removeClient(c)
	var pg readlease.PathGrantStats
	if k.LeaseHolder != nil {
		pg = k.LeaseHolder.PathGrants()
	}
	k.Log.Debug("client state freed", "path_grants", pg.Granted, "path_grants_moved", pg.Moved, "path_grants_changing", pg.Changing, "path_grants_refused", pg.Refused, "posted_frames", c.counts.postedFrames.Load(), "worker_handoffs", c.counts.handoffs.Load(),
		"run_where_received", c.counts.here.Load(), "attr_runs_posted", c.counts.attrsPosted.Load(), "readers_relieved", c.counts.relieved.Load(), "messages_sent", c.stream.sent.Load(), "linger_sends", c.stream.lingerSends.Load())
}

// beginDestroy marks the kernel destroyed, which wakes its blocked calls,
// and ends its processes and threads; what is left to do after the lock
// goes into d. It reports false if the kernel was destroyed already.
func beginDestroy(k *kernel.Kernel, d *kernel.Deferred) bool {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if k.Destroyed {
		return false
	}
	k.Destroyed = true
	close(k.Done)
	if k.LeaseHolder != nil {
		k.LeaseHolder.Close()
	}
	for _, p := range k.Procs {
		p.Exiting = true
		k.DeleteTimersLocked(p, true)
		if p.FDs != nil {
			k.DropFDTableLocked(p.FDs, p.PID, d)
			p.FDs = nil
		}
	}
	for _, t := range k.Threads {
		t.Killed = true
	}
	k.Procs = map[int32]*kernel.Process{}
	k.Threads = map[int32]*kernel.Thread{}
	return true
}

// endDestroy finishes beginDestroy: it waits (briefly) for the calls
// still running, then releases the kernel's files, handles and sockets.
func endDestroy(k *kernel.Kernel, d *kernel.Deferred) {
	// Blocked calls return once done is closed; give in-flight gofer RPCs a
	// moment before the handles they use go away.
	waited := make(chan struct{})
	go func() { k.Workers.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(2 * time.Second):
		k.Log.Warn("calls still running at client teardown")
	}
	k.Mu.Lock()
	for _, f := range k.Rewrites {
		d.Do(f.DecRef)
	}
	for _, f := range k.RewritesFailed {
		d.Do(f.DecRef)
	}
	k.Rewrites, k.RewritesFailed = nil, nil
	k.Mu.Unlock()
	d.Do(k.Dur.ReleaseAll, k.Maps.ReleaseAll, k.VFS.ReleaseAll)
	if k.AppEnded.Load() {
		d.Do(k.VFS.RemoveShm, k.VFS.RemoveMounts)
	}
	d.Do(k.Socks.Release)
	d.DropPushes()
	d.Run(k.Out)
	k.Cancel()
}

// forgetOrigins tells the gofer to drop its cached replies of this
// client's mutations: a client that said Goodbye re-sends none (a client
// whose stream merely broke may, so it is not forgotten then). Best
// effort: entries are evicted anyway when the reply cache is full.
func forgetOrigins(k *kernel.Kernel) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := k.Gofer.ForgetClient(ctx, &goferpb.ForgetClientRequest{ClientId: k.OriginID}); err != nil {
		k.Log.Debug("gofer ForgetClient failed", "err", err)
	}
}

// enqueue routes a call: Start and file-mapping calls run on their own
// goroutine; a thread's calls run in order on that thread's worker, which
// for a call in inlineSyscalls arriving while the thread has nothing
// queued is the caller itself. It is called by the session's receiving
// goroutine, and by a call channel's goroutine (enqueueCall, hop.go) only
// once the receiving goroutine handled the messages sent before the
// call: so the receiving goroutine never finds a channel's call queued
// behind its inline one.
func (c *client) enqueue(call *sentrypb.Call) { c.enqueueCall(call, false) }

// enqueueCall is enqueue; runHere says the caller (a call channel's
// goroutine, waiting for this call's reply) runs the thread's calls
// itself when no worker does.
func (c *client) enqueueCall(call *sentrypb.Call, runHere bool) {
	k := c.k
	switch call.Op.(type) {
	case *sentrypb.Call_Rewrite:
		// Rewrites run in order, one at a time: they may overlap.
		k.Mu.Lock()
		if k.Destroyed {
			k.Mu.Unlock()
			return
		}
		c.auxQ = append(c.auxQ, call)
		if !c.auxRunning {
			c.auxRunning = true
			k.Workers.Add(1)
			go c.auxWorker()
		}
		k.Mu.Unlock()
		return
	case *sentrypb.Call_FileRelease:
		c.enqueueFileRelease(call)
		return
	case *sentrypb.Call_Start, *sentrypb.Call_Spawn, *sentrypb.Call_PageRead, *sentrypb.Call_LendFd, *sentrypb.Call_PageWrite, *sentrypb.Call_Restore, *sentrypb.Call_Kill, *sentrypb.Call_TtyResize:
		k.Mu.Lock()
		if k.Destroyed {
			k.Mu.Unlock()
			return
		}
		k.Workers.Add(1)
		k.Mu.Unlock()
		go func() {
			defer k.Workers.Done()
			c.replyAux(call)
		}()
		return
	}
	k.Mu.Lock()
	if k.Destroyed {
		k.Mu.Unlock()
		return
	}
	t := k.Threads[call.Tid]
	if t == nil {
		r := &sentrypb.Reply{Seq: call.Seq, Errno: int32(unix.ESRCH)}
		if ea := k.GoneThreadExitLocked(call); ea != nil {
			r.Errno, r.Action = 0, &sentrypb.Reply_Exit{Exit: ea}
		}
		k.Mu.Unlock()
		c.stream.reply(r)
		return
	}
	tc := c.callsOfLocked(t)
	tc.queue = append(tc.queue, call)
	if isPosted(call) {
		c.notePostedLocked(call.Seq, call.Tid)
	}
	c.wakeRunsLocked()
	if !tc.running {
		tc.running = true
		k.Workers.Add(1)
		if runHere || inlineCall(call) {
			// t's queue holds just this call, and only this (receiving)
			// goroutine adds to it: the worker returns after it. Running
			// it here saves a goroutine start and a hand-off per call.
			k.Mu.Unlock()
			c.counts.here.Add(1)
			c.threadWorker(t, tc, true)
			return
		}
		c.counts.handoffs.Add(1)
		c.s.workers.Go(func() { c.threadWorker(t, tc, false) })
	}
	k.Mu.Unlock()
}

// inlineSyscalls are the system calls the receiving goroutine may run
// itself (enqueue): they only read or set state in memory (under
// kernel.Kernel.Mu or vfs.mu), never block, never wait for the gofer, and
// their replies are small, so running them holds up the session's other
// messages (heartbeats included) for microseconds. A call that may block
// (wait4, read, poll), reach the gofer (open, stat, or a close or fcntl
// that may drop a gofer file's last reference) or send pushes to other
// threads (kill) must not be listed.
var inlineSyscalls = map[int32]bool{
	unix.SYS_GETPID: true, unix.SYS_GETTID: true, unix.SYS_GETPPID: true,
	unix.SYS_GETPGID: true, unix.SYS_GETPGRP: true, unix.SYS_GETSID: true,
	unix.SYS_SETPGID: true, unix.SYS_SETSID: true,
	unix.SYS_GETUID: true, unix.SYS_GETEUID: true, unix.SYS_GETGID: true, unix.SYS_GETEGID: true,
	unix.SYS_GETRESUID: true, unix.SYS_GETRESGID: true, unix.SYS_GETGROUPS: true,
	unix.SYS_RT_SIGACTION: true, unix.SYS_UMASK: true, unix.SYS_GETRUSAGE: true,
	unix.SYS_GETCWD: true,
}

// inlineCall reports whether call may run on the receiving goroutine.
func inlineCall(call *sentrypb.Call) bool {
	sc, ok := call.Op.(*sentrypb.Call_Syscall)
	return ok && sc.Syscall != nil && inlineSyscalls[sc.Syscall.Sysno]
}

// allInline reports whether every call of a thread's queue may run on
// the receiving goroutine (inlineCall).
func allInline(queue []*sentrypb.Call) bool {
	for _, call := range queue {
		if !inlineCall(call) {
			return false
		}
	}
	return true
}

// auxWorker runs the queued Rewrite calls one at a time.
func (c *client) auxWorker() {
	k := c.k
	defer k.Workers.Done()
	for {
		k.Mu.Lock()
		if len(c.auxQ) == 0 || k.Destroyed {
			c.auxRunning = false
			c.auxQ = nil
			k.Mu.Unlock()
			return
		}
		call := c.auxQ[0]
		c.auxQ[0] = nil
		c.auxQ = c.auxQ[1:]
		k.Mu.Unlock()
		c.replyAux(call)
	}
}

// threadWorker runs the queued calls of thread t (its record tc) one at
// a time; borrowed says it runs on a goroutine whose caller waits for it
// to return (the socket reader's, a call channel's).
func (c *client) threadWorker(t *kernel.Thread, tc *threadCalls, borrowed bool) {
	k := c.k
	defer k.Workers.Done()
	for {
		k.Mu.Lock()
		// A run ends before the worker does: no other may start the
		// thread's next calls first.
		unlocked, handedOff := c.endAttrRunLocked(t, tc, borrowed)
		if handedOff {
			k.Mu.Unlock()
			return
		}
		if unlocked {
			k.Mu.Unlock()
			continue
		}
		if len(tc.queue) == 0 || k.Destroyed {
			tc.running = false
			t.Ahead.Clear()
			clear(tc.queue)
			tc.queue = tc.queue[:0]
			if cap(tc.queue) > maxKeptQueue {
				tc.queue = nil
			}
			k.Mu.Unlock()
			return
		}
		// Taken off the front by moving the rest (a queue holds a few
		// calls, a batch of posted ones at most): its array is the next
		// calls', not one allocated per call.
		call := tc.queue[0]
		n := copy(tc.queue, tc.queue[1:])
		tc.queue[n] = nil
		tc.queue = tc.queue[:n]
		posted := isPosted(call)
		planWriteAhead(t, call, tc.queue)
		if tc.attrRun == nil && posted {
			tc.attrRun = startsAttrRun(call, tc.queue)
		}
		t.InFlight = true
		tc.inFlightPosted = posted
		intr := tc.intrSpare
		if intr == nil {
			intr = make(chan struct{})
		}
		tc.intrSpare = nil
		if tc.intrPending && !posted {
			// An Interrupt is for a call the thread waits on, never
			// for a posted one (its result was given already).
			close(intr)
			tc.intrPending = false
		}
		tc.intr = intr
		if (!posted || afterPosted(call)) && !inlineCall(call) {
			// The session's calls are applied in order: not before the
			// posted calls of other threads that came first. (An
			// Interrupt meanwhile closes intr.) A posted one's own
			// thread's ran before it on this worker: one still
			// unfinished is held in the run this call may go on with
			// (attrrun.go), which waits for it.
			var own int32
			if posted {
				own = call.Tid
			}
			c.awaitPostedLocked(call.Seq, own)
		}
		killed := t.Killed
		k.Mu.Unlock()

		var r *sentrypb.Reply
		if killed {
			r = &sentrypb.Reply{Seq: call.Seq}
		} else {
			r = c.execThreadCall(t, call, intr, tc)
		}

		k.Mu.Lock()
		t.InFlight = false
		tc.inFlightPosted = false
		tc.intr = nil
		select {
		case <-intr:
		default:
			// Not interrupted, and no longer reachable by interrupt:
			// the next call's.
			tc.intrSpare = intr
		}
		if t.Killed {
			if _, isExit := r.Action.(*sentrypb.Reply_Exit); !isExit {
				r = &sentrypb.Reply{Seq: call.Seq, Action: &sentrypb.Reply_Exit{Exit: killedExitLocked(k, t)}}
			}
		}
		// A posted reply may wait for company: the reply of the
		// thread's next call (posted.go).
		var next *sentrypb.Call
		if posted && len(tc.queue) > 0 {
			next = tc.queue[0]
		}
		k.Mu.Unlock()
		if posted && c.runAttrCall(tc, call, r) {
			continue
		}
		if posted {
			if c.stream.replyPosted(r, next, replyCanWait(call)) && tc.task != nil && r == &tc.task.ReplyMsg {
				*tc.task = kernel.Task{} // nothing it points at stays alive through it
				tc.spareTask = tc.task
			}
		} else {
			c.stream.reply(r)
		}
		tc.task = nil
		if posted {
			// Only once its reply is on the stream: the reply of a call
			// that waited for it (and may carry records it changed)
			// must not reach the client first.
			k.Mu.Lock()
			c.postedFinishedLocked(call.Seq)
			k.Mu.Unlock()
		}
	}
}

// killedExitLocked is the exit action for a thread the server ended.
func killedExitLocked(k *kernel.Kernel, t *kernel.Thread) *sentrypb.ExitAction {
	if k.AppExited {
		return &sentrypb.ExitAction{Group: true, WaitStatus: k.AppStatus, AppExit: true}
	}
	return &sentrypb.ExitAction{Group: true, WaitStatus: t.ExitStatus}
}

// interrupt aborts the blocking call tid has in flight (or the next one
// it has queued).
func (c *client) interrupt(tid int32) {
	k := c.k
	k.Mu.Lock()
	defer k.Mu.Unlock()
	t := k.Threads[tid]
	if t == nil {
		return
	}
	tc := c.calls[t]
	if tc == nil {
		// No call of t ever came: none to interrupt.
		return
	}
	switch {
	case tc.intr != nil && tc.inFlightPosted:
		// The thread's call is posted: the interrupt is for the
		// next one, which it waits on.
		tc.intrPending = true
	case tc.intr != nil:
		select {
		case <-tc.intr:
		default:
			close(tc.intr)
		}
	case len(tc.queue) > 0:
		tc.intrPending = true
	}
}

// recoverCall turns a panic of the call seq into an EIO reply for that call
// alone, logged with its stack (system call handlers have their own, in
// runHandler). It must be deferred directly.
func (c *client) recoverCall(seq uint64, r **sentrypb.Reply) {
	p := recover()
	if p == nil {
		return
	}
	if panicOnBug {
		panic(p)
	}
	c.k.Log.Error("BUG: call panicked; it fails with EIO, the server carries on", "seq", seq, "panic", p, "stack", string(debug.Stack()))
	*r = &sentrypb.Reply{Seq: seq, Errno: int32(unix.EIO)}
}

// execAux runs a call that is not a thread's system call.
//
// A PageRead may lend the file's host fd (mappedfd.go): lent is then set,
// with a reference, and must go with r (replyAux).
func (c *client) execAux(call *sentrypb.Call) (r *sentrypb.Reply, lent *donated.FD) {
	defer c.recoverCall(call.Seq, &r)
	k := c.k
	r = &sentrypb.Reply{Seq: call.Seq}
	var err error
	switch op := call.Op.(type) {
	case *sentrypb.Call_Start:
		err = k.Start(call.Seq, op.Start, r)
	case *sentrypb.Call_Spawn:
		err = k.Spawn(call.Seq, op.Spawn, r)
	case *sentrypb.Call_PageRead:
		lent, err = k.PageRead(op.PageRead, r, c.stream.mayLendNow())
	case *sentrypb.Call_LendFd:
		if lent, err = k.LendFD(call.Tid, op.LendFd, c.stream.mayLendNow()); lent != nil {
			r.HostFd = true
		}
	case *sentrypb.Call_PageWrite:
		err = k.PageWrite(call.Seq, op.PageWrite, r)
	case *sentrypb.Call_Restore:
		k.ResentBelow.Store(call.Seq)
		if err = k.Restore(op.Restore, r); err != nil {
			// The client only learns the errno; which record was
			// refused, and why, is here.
			k.Log.Warn("restore refused", "seq", call.Seq, "err", err)
		}
	case *sentrypb.Call_Rewrite:
		err = k.Rewrite(op.Rewrite, r)
	case *sentrypb.Call_Kill:
		err = k.KillFromOutside(op.Kill)
	case *sentrypb.Call_TtyResize:
		err = k.TtyResize(op.TtyResize)
	}
	if err != nil {
		r.Errno = int32(syserr.ErrnoOf(err))
		r.Action = nil
		if r.Errno == int32(syserr.UnknownErrno) {
			k.Log.Warn("call failed", "seq", call.Seq, "err", err)
		}
		var pe *kernel.StartPathError
		if errors.As(err, &pe) {
			r.FailedPath, r.FailedCwd = []byte(pe.Path), pe.Cwd
		}
	}
	return r, lent
}

// execThreadCall runs one call of thread t; run is the run of posted
// attribute calls it is part of (nil: none).
func (c *client) execThreadCall(t *kernel.Thread, call *sentrypb.Call, intr chan struct{}, tc *threadCalls) (r *sentrypb.Reply) {
	defer c.recoverCall(call.Seq, &r)
	k := c.k
	switch op := call.Op.(type) {
	case *sentrypb.Call_Syscall:
		if op.Syscall == nil {
			return &sentrypb.Reply{Seq: call.Seq, Errno: int32(unix.EINVAL)}
		}
		tc.task, tc.spareTask = tc.spareTask, nil
		if tc.task == nil {
			tc.task = new(kernel.Task)
		}
		return dispatch(k, t, call.Seq, op.Syscall, intr, tc.attrRun, tc.task)
	case *sentrypb.Call_PtraceStop:
		return k.PtraceStop(t, call.Seq, op.PtraceStop)
	case *sentrypb.Call_Fault:
		r := &sentrypb.Reply{Seq: call.Seq}
		plan, err := k.Fault(t, op.Fault)
		if err != nil {
			r.Errno = int32(syserr.ErrnoOf(err))
		}
		if plan != nil {
			r.Action = &sentrypb.Reply_CoreDump{CoreDump: plan}
		}
		return r
	}
	return &sentrypb.Reply{Seq: call.Seq, Errno: int32(unix.EINVAL)}
}

// debug writes a description of the client's state.
func kernelDebug(k *kernel.Kernel, b *strings.Builder) {
	k.Mu.Lock()
	fmt.Fprintf(b, "client %s: %d process(es), %d thread(s)\n", k.ID, len(k.Procs), len(k.Threads))
	k.Mu.Unlock()
	k.DebugNetwork(b) // takes the network stack's lock alone
	k.Mu.Lock()
	defer k.Mu.Unlock()
	pids := make([]int, 0, len(k.Procs))
	for pid := range k.Procs {
		pids = append(pids, int(pid))
	}
	sort.Ints(pids)
	for _, pid := range pids {
		p := k.Procs[int32(pid)]
		state := "running"
		switch {
		case p.Zombie:
			state = fmt.Sprintf("zombie(status %#x)", p.ExitStatus)
		case p.Exiting:
			state = "exiting"
		}
		ppid := int32(0)
		if p.Parent != nil {
			ppid = p.Parent.PID
		}
		nfds := 0
		if p.FDs != nil {
			nfds = p.FDs.Count()
		}
		fmt.Fprintf(b, "  pid %d ppid %d pgid %d sid %d %s comm %q threads %d fds %d\n",
			p.PID, ppid, p.PGID, p.SID, state, p.Comm, len(p.Live), nfds)
	}
}
