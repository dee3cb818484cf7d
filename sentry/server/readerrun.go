package server

import (
	"sync/atomic"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// The socket reader runs a one-thread client's posted batch itself.
//
// A frame of posted calls alone (tar's member: its creation; then its
// copy, closes, opens and attribute calls) was handed to a worker of the
// pool, a goroutine woken for each frame (1.6 a file) while the reader
// went back to a socket that had nothing more to read: the client, one
// thread, sends its next frame only once it has run on. For a client
// whose kernel has one thread, the reader runs the batch itself
// (receivePostedFrame), as it runs inline calls; and so for one whose
// other threads all wait for the replies of calls they did not post
// (othersWaiting: a shell in wait4, a pipe's reader blocked in read), who
// send nothing meanwhile either (`busybox find | wc -l`: ~590 worker
// hand-offs a run, one a frame, before).
//
// What the batch may wait for that only this reader brings must still
// come. The calls of the one thread are the batch's own (queued in order
// behind it); but a posted call may wait for a message on the session:
//   - another client's acknowledgment of a lease revocation
//     (readlease.Registry.BeginChange), which comes on that client's
//     session, whose reader may be running a batch of its own that waits
//     for this client's acknowledgment;
//   - a ProcQuery's answer (procquery.go), a call channel's ChannelOpen
//     or a channel call that waits for this frame to be handled
//     (transport's hop order), an Interrupt;
//   - the client's heartbeats, whose answers it needs within its
//     dead-after interval (default 500 ms), and the server's
//     silent-client watch (Server.Session);
//   - a gofer that restarts (GoferConn re-sends the call): seconds.
// So the reader that starts a batch arms a watch (readerWatch): if the
// batch has not ended postedRunWatch later, a new goroutine takes the
// reading over (readLoop) and this one, once the batch ends, only returns
// (serve's waits for the session's end). So any message is read at most
// postedRunWatch after it arrived, as when a worker ran the batch, and
// the batch is then that worker. Order holds: the frame's calls were all
// queued (queuePostedBatch) before the reading goes on, whoever does it,
// and the thread's later calls join its queue behind them, which this
// goroutine drains (threadCalls.running). A frame with a message of its
// own after its posted calls (a waited call, a heartbeat) is handled as
// before: its calls go to a worker.

// postedRunWatch is how long a reader runs a posted batch before another
// goroutine takes the reading over. A variable for tests.
var postedRunWatch = 20 * time.Millisecond

// readerWatch is a reading goroutine's watch over the batch it runs.
type readerWatch struct {
	// timer takes the reading over (relieve); made at the reader's
	// first batch. Immutable pointer.
	timer *time.Timer
	// state is watchIdle, watchRunning (a batch runs) or watchRelieved
	// (another goroutine reads now).
	state atomic.Int32
}

const (
	watchIdle int32 = iota
	watchRunning
	watchRelieved
)

// receivePostedFrame admits and queues the posted calls of a frame that
// carries nothing else, and runs them: here if they are one thread's
// while the client's other threads wait for their calls (othersWaiting),
// or all inlineSyscalls, else on workers. It
// reports false if another goroutine took the reading over meanwhile.
// *w is the reader's watch, made at its first batch.
func (c *client) receivePostedFrame(sess *session, calls []*sentrypb.Call, w **readerWatch) bool {
	start, inline := c.queuePostedBatch(sess, calls)
	if len(start) != 1 || (!inline && !c.othersWaiting(start[0].t)) {
		c.startPostedWorkers(start)
		return true
	}
	c.counts.here.Add(1)
	if inline {
		// Memory alone: nothing to watch.
		c.threadWorker(start[0].t, start[0].tc, true)
		return true
	}
	if *w == nil {
		*w = c.newReaderWatch(sess)
	}
	return (*w).run(func() { c.threadWorker(start[0].t, start[0].tc, true) })
}

// othersWaiting says every thread of the client's kernel but t waits
// for the reply of a call it did not post (nothing queued behind it): the
// client sends nothing more of such a thread until that reply (but an
// Interrupt, which the watch covers), so the reader running t's batch
// holds up none of their messages. A kernel of one thread is the case
// this was made for (tar); a shell in wait4 and a pipe's reader blocked
// in read while the writer's frames come (`find | wc -l`) are such
// threads too. A thread of the client not in a call (running, or
// waiting on the client) may send at any time: its frames are not to
// wait behind another thread's batch.
func (c *client) othersWaiting(t *kernel.Thread) bool {
	c.k.Mu.Lock()
	defer c.k.Mu.Unlock()
	for _, o := range c.k.Threads {
		if o == t {
			continue
		}
		tc := c.calls[o]
		if tc == nil || !o.InFlight || tc.inFlightPosted || len(tc.queue) > 0 {
			return false
		}
	}
	return true
}

// newReaderWatch makes a watch whose timer hands the reading of sess to
// a new goroutine.
func (c *client) newReaderWatch(sess *session) *readerWatch {
	w := &readerWatch{}
	w.timer = time.AfterFunc(time.Hour, func() {
		if w.state.CompareAndSwap(watchRunning, watchRelieved) {
			c.counts.relieved.Add(1)
			go c.readOn(sess)
		}
	})
	w.timer.Stop()
	return w
}

// readOn reads sess on a goroutine of its own, which took the reading
// over (newReaderWatch). A panic there ends the session, as serve's
// (Server.Session) does: the stream's handler returns once it ended.
func (c *client) readOn(sess *session) {
	var err error
	defer func() {
		if err != nil {
			c.stream.setSender(nil)
			c.destroy()
			sess.end()
		}
	}()
	defer c.s.recoverHandler("Session", &err)
	c.readLoop(sess)
}

// run runs batch under the watch and reports whether this goroutine
// still reads the session.
func (w *readerWatch) run(batch func()) bool {
	w.state.Store(watchRunning)
	w.timer.Reset(postedRunWatch)
	batch()
	w.timer.Stop()
	return w.state.CompareAndSwap(watchRunning, watchIdle)
}
