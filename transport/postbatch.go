package transport

import (
	"fmt"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Posted calls in batches (docs/ARCHITECTURE.md, "Posted calls in
// batches").
//
// A posted call (Syscall.posted) has no caller waiting for its reply, so
// its send can wait for company: GoPosted queues it, and the next message
// the client sends (a waited call, a heartbeat, an Interrupt...) carries
// the queued calls in front of its own content
// (ClientMessage.posted_calls), in one frame; a call channel's call
// carries them inside it (StampChannel), and the socket messages sent
// after it count the batches sent so (ClientMessage.channel_batches), so
// that the server handles them after the batch, as if it had come on the
// socket.
// Nothing is held long: the queue goes out Options.PostDelay after its first
// call at the latest (a last call posted with PostTakeBack: twice that),
// or at once once it holds postedFlushBytes of inputs or maxPostedBatch
// calls. A call posted once the queue is due (its first
// call waited postDue, three quarters of the delay) sends it on the
// posting thread, and starts the next queue (so the last call posted may
// still be taken back: UnqueuePosted): in a program that keeps posting, the queue's timer
// fires only after a pause of the program longer than the rest of the
// delay, or after its last call. The timer is a channel's, which one
// goroutine of the connection's life waits on (postSender): a firing
// starts no goroutine (time.AfterFunc's would, its stack grown anew to
// marshal each frame). Order is unchanged: the queue is the
// connection's, in seq order, and every message sent after a queued call
// (any thread's) goes after it in the same frame or a later one.
//
// The server does the same with the replies (ServerMessage.
// posted_replies): dispatch handles them, in order, before the message
// that carries them.

const (
	// DefaultPostDelay bounds how long a posted call waits in the queue
	// (Options.PostDelay): long enough that a program posting in a loop
	// (umask, writes behind) fills a batch of maxPostedBatch before it
	// runs out, so that each batch's fixed cost (a socket write and a
	// wake-up on either side, the server's hand-off to the thread's
	// worker, the replies' frame) is spread over many calls; nothing in
	// the sandbox waits for it (a waited call takes the queue along).
	// MaxPostDelay bounds the option: what another sandbox or the host
	// sees of a posted change may lag by the delay.
	DefaultPostDelay = 2 * time.Millisecond
	MaxPostDelay     = time.Second
	// postedFlushBytes and maxPostedBatch bound a batch: a queue that
	// reaches either goes out at once (by postSender for the count).
	postedFlushBytes = 256 << 10
	maxPostedBatch   = 64
	// maxPostedQueue bounds a queue waiting for postSender to send it
	// (full at maxPostedBatch): past it the poster sends it itself.
	maxPostedQueue = 4 * maxPostedBatch
)

// DefaultReplyLinger is how long the server may hold the replies of
// posted calls nothing of the client waits for (Options.ReplyLinger;
// sentry/server's lingering.go): longer than tar takes for a member, whose
// creation's reply then carries the replies of the member before; short
// enough that the calls kept in flight (at most maxPostedCalls, and each
// a read-cache answer of its file held back) stay few. MaxReplyLinger is
// the server's bound, a heartbeat interval.
const (
	DefaultReplyLinger = 10 * time.Millisecond
	MaxReplyLinger     = 100 * time.Millisecond
)

// replyLinger is ReplyLinger, defaulted and bounded (0: none).
func (o Options) replyLinger() time.Duration {
	switch {
	case o.ReplyLinger == 0:
		return DefaultReplyLinger
	case o.ReplyLinger < 0:
		return 0
	}
	return min(o.ReplyLinger, MaxReplyLinger)
}

// postDelay is PostDelay, defaulted and bounded (validated by the
// command line; a library caller's out-of-range value is clamped).
func (o Options) postDelay() time.Duration {
	switch {
	case o.PostDelay <= 0:
		return DefaultPostDelay
	case o.PostDelay > MaxPostDelay:
		return MaxPostDelay
	}
	return o.PostDelay
}

// callInputBytes is the size of c's by-reference inputs, the bulk of a
// posted write.
func callInputBytes(c *pb.Call) int {
	n := 0
	for _, in := range c.GetSyscall().GetInputs() {
		n += len(in.GetData())
	}
	return n
}

// GoPosted is Go for a posted call: the call is queued and sent with the
// next message, or on its own within the post delay (see above); on a
// server without FeaturePostBatch it is sent at once, as Go sends.
func (c *StreamConn) GoPosted(call *pb.Call) (<-chan *pb.Reply, error) {
	if !c.batchPosted {
		return c.Go(call)
	}
	ch := make(chan *pb.Reply, 1)
	if err := c.queuePosted(call, ch, false); err != nil {
		return nil, err
	}
	return ch, nil
}

// Post is GoPosted for a caller that takes the reply through
// Options.OnReply alone (the client sentry's posted calls): no reply
// channel is made for it, nor sent to.
func (c *StreamConn) Post(call *pb.Call) error {
	if !c.batchPosted {
		_, err := c.Go(call)
		return err
	}
	return c.queuePosted(call, noReceiver, false)
}

// PostTakeBack is Post for a call its caller may take back
// (UnqueuePosted) when its next call comes: while it is in the queue's
// take-back tail (the calls posted with PostTakeBack last, one after the
// other: a posted open and the posted getdents64 of its listing answered
// on the client), the queue's timer and a heartbeat leave the tail
// queued once, for one more post delay (keepTakeBackLocked). A posted open whose close
// follows it at once (sentry/client's open+close pairs) is then sent only
// if the thread paused between them past twice the delay, not whenever
// the timer or a heartbeat fired between them. Only a call nobody
// outside the session sees may wait so (an open of a file under a path
// lease: a change of the file or its name by anyone else revokes the
// lease first, and the acknowledgment, an ordered send, takes it along).
func (c *StreamConn) PostTakeBack(call *pb.Call) error {
	if !c.batchPosted {
		_, err := c.Go(call)
		return err
	}
	return c.queuePosted(call, noReceiver, true)
}

// noReceiver is the pending entry of a call queued by Post: its reply
// goes to OnReply alone (dispatchReply).
var noReceiver = make(chan *pb.Reply)

// queuePosted registers call, whose reply goes to ch, and queues it
// (takeBack: see PostTakeBack).
func (c *StreamConn) queuePosted(call *pb.Call, ch chan *pb.Reply, takeBack bool) error {
	if err := c.registerAs(call, ch); err != nil {
		return err
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if len(c.postQ) > 0 && time.Since(c.postQSince) >= c.postDue() {
		// The queue is due: it goes without call, which starts the
		// next one. So the last call posted stays queued a while,
		// and may still be taken back (UnqueuePosted: an open its
		// close follows at once), which a due send that took it
		// along would forbid: the close would then be posted, due in
		// its turn when the next open comes, and so on, one pair sent
		// every postDue in a loop of open+close. A call that extends
		// the take-back tail (a subdirectory's open while its
		// parent's open and listing wait for their close) leaves the
		// tail queued, as the timer does.
		var kept []*pb.Call
		keeps := 0
		if takeBack {
			kept, keeps = c.keepTakeBackLocked()
		}
		var err error
		if len(c.postQ) > 0 {
			err = c.sendLocked(&c.queueAlone)
		}
		c.restoreKeptLocked(kept, keeps)
		if err != nil {
			return err
		}
	}
	c.postQ = append(c.postQ, call)
	c.postQBytes += callInputBytes(call)
	if takeBack {
		c.postQTakeBacks++
	} else {
		c.postQTakeBacks, c.postQKept = 0, 0
	}
	switch {
	case c.postQBytes >= postedFlushBytes || len(c.postQ) >= maxPostedQueue ||
		len(c.postQ) >= maxPostedBatch && c.postFull == nil:
		return c.sendLocked(&c.queueAlone)
	case len(c.postQ) >= maxPostedBatch && !c.postFullAsked:
		// Sent by postSender, not by the poster: the client's posting
		// goroutine runs the application's system calls, and a frame's
		// encoding and write (~100 µs for 64 calls) made the
		// application's stub thread give up waiting and sleep, and the
		// platform's fast path turn off. A next message takes the queue
		// along meanwhile, as always.
		c.postFullAsked = true
		select {
		case c.postFull <- struct{}{}:
		default:
		}
	case len(c.postQ) == 1:
		c.postQSince = time.Now()
		c.postTimer.Reset(c.postDelay)
	}
	return nil
}

// postDue is how long the queue's first call waits before a call posted
// after it sends the queue: a quarter of the delay before the timer
// would.
func (c *StreamConn) postDue() time.Duration { return c.postDelay - c.postDelay/4 }

// ChannelStamp places a call channel's call among the session's
// messages (StampChannel): the socket messages sent before it, the posted
// batches sent in channel calls before it (its own included), and the
// posted calls it carries, if any.
type ChannelStamp struct {
	sent, batches uint64
	posted        []*pb.Call
}

// StampChannel stamps call, a call channel's call whose seq was just
// assigned, with its place among the session's messages; the caller's
// order of seqs holds no other message of the session back meanwhile (the
// client sentry's session lock). The queued posted calls ride inside the
// call (Call.posted_calls, FeatureChannelBatch) if it has room for them,
// else they are sent now in a frame of their own saying a channel call
// follows (ClientMessage.channel_call_follows), so that the server may
// send their replies in that call's reply. ErrCallTooLarge: the call does
// not fit in a channel; nothing was stamped (send it on the socket). The
// caller holds its channel already and sends the call at once (CallInto):
// the server handles no message sent after the stamp before the call's
// batch.
func (c *StreamConn) StampChannel(call *pb.Call) (ChannelStamp, error) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if len(c.postQ) > 0 {
		if c.channelBatch {
			size := proto.Size(call)
			if size > MaxChannelCall {
				return ChannelStamp{}, ErrCallTooLarge
			}
			if postedSize(c.postQ)+size <= MaxChannelCall {
				st := ChannelStamp{posted: c.postQ}
				c.takePostedLocked()
				c.chanBatches++
				c.chanBatched.Add(1)
				st.sent, st.batches = c.sent.Load(), c.chanBatches
				return st, nil
			}
		}
		if err := c.sendLocked(&pb.ClientMessage{ChannelCallFollows: c.channelPosted}); err != nil {
			// The connection died: the channel call fails too, and
			// the recovery re-sends both.
			return ChannelStamp{}, err
		}
	}
	return ChannelStamp{sent: c.sent.Load(), batches: c.chanBatches}, nil
}

// postedSize is the size of calls as Call.posted_calls in a channel
// call's encoding.
func postedSize(calls []*pb.Call) int {
	n := 0
	for _, p := range calls {
		n += sizeCall(postedCallsField, p)
	}
	return n
}

// postedCallsField is Call.posted_calls's field number.
const postedCallsField = 543

// appendPosted appends calls to enc, a channel call's encoding, as its
// Call.posted_calls.
func appendPosted(enc []byte, calls []*pb.Call) ([]byte, error) {
	for _, p := range calls {
		want := sizeCall(postedCallsField, p)
		before := len(enc)
		var err error
		enc, err = appendCall(enc, postedCallsField, p)
		if err != nil {
			return enc, fmt.Errorf("marshal posted call %d: %w", p.Seq, err)
		}
		if len(enc)-before != want {
			return enc, fmt.Errorf("marshal posted call %d: %d bytes, sized %d", p.Seq, len(enc)-before, want)
		}
	}
	return enc, nil
}

// SendPosted sends the queued posted calls now, in a frame of their own,
// if there are any: a posted call whose reply later calls may wait for
// (a creation, sentry/client/postcreate.go) need not wait for company.
func (c *StreamConn) SendPosted() error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if len(c.postQ) == 0 {
		return nil
	}
	return c.sendLocked(&c.queueAlone)
}

// UnqueuePosted takes calls, queued by GoPosted, back out of the queue if
// they are still there and its last calls, in that order (nothing was
// queued after them), and forgets their reply channels: they are never
// sent. Either all are taken back or none. The caller makes as if they
// had never been posted (sentry/client's open+close pairs, and an open,
// its listing answered on the client and its close). Nothing is taken
// back from a dead connection, as MergePosted merges nothing there.
func (c *StreamConn) UnqueuePosted(calls ...*pb.Call) bool {
	if c.Err() != nil {
		return false
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	n, k := len(c.postQ), len(calls)
	if k == 0 || n < k {
		return false
	}
	for i, call := range calls {
		if c.postQ[n-k+i] != call {
			return false
		}
	}
	for i, call := range calls {
		c.postQ[n-k+i] = nil
		c.postQBytes -= callInputBytes(call)
	}
	c.postQ = c.postQ[:n-k]
	// What is left of the take-back tail stays kept as it was.
	c.postQTakeBacks = max(c.postQTakeBacks-k, 0)
	if len(c.postQ) == 0 {
		c.postTimer.Stop()
		c.postQTakeBacks, c.postQKept = 0, 0
	}
	c.mu.Lock()
	for _, call := range calls {
		delete(c.pending, call.Seq)
	}
	c.mu.Unlock()
	return true
}

// DropPosted takes call drop out of the queue and runs edit, under the
// send lock (no encoding of a queued call races it), if tail are still
// the queue's last calls, in that order, drop among them: the others
// stay queued, as edit changed them. Either both happen or neither.
// sentry/client moves an fd's posted open, unsent yet, to the fd of its
// dup when the fd is closed: the dup is dropped and the open (and the
// listing's call after it) edited to name the dup's fd (dupmove.go).
// Nothing is changed on a dead connection (UnqueuePosted's rule).
func (c *StreamConn) DropPosted(tail []*pb.Call, drop *pb.Call, edit func()) bool {
	if c.Err() != nil {
		return false
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	n, k := len(c.postQ), len(tail)
	if k == 0 || n < k {
		return false
	}
	at := -1
	for i, call := range tail {
		if c.postQ[n-k+i] != call {
			return false
		}
		if call == drop {
			at = n - k + i
		}
	}
	if at < 0 {
		return false
	}
	edit()
	c.dropAtLocked(at)
	return true
}

// DropPostedIf takes call drop out of the queue if it is still queued,
// unsent, the queue's last call has seq last (nothing was posted after
// it that the connection did not queue), and neutral accepts every call
// queued after drop (run under the send lock): the others stay queued.
// sentry/client drops a posted dup whose new fd is closed while the dup
// is unsent and no call after it needs that fd (dupmove.go). Nothing is
// changed on a dead connection (UnqueuePosted's rule).
func (c *StreamConn) DropPostedIf(drop *pb.Call, last uint64, neutral func(*pb.Call) bool) bool {
	if c.Err() != nil {
		return false
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	n := len(c.postQ)
	if n == 0 || c.postQ[n-1].Seq != last {
		return false
	}
	at := n - 1
	for ; at >= 0 && c.postQ[at] != drop; at-- {
		if !neutral(c.postQ[at]) {
			return false
		}
	}
	if at < 0 {
		return false
	}
	c.dropAtLocked(at)
	return true
}

// dropAtLocked takes the queue's call at index at out of it and forgets
// its reply channel (DropPosted, DropPostedIf). Precondition: c.sendMu.
func (c *StreamConn) dropAtLocked(at int) {
	n, drop := len(c.postQ), c.postQ[at]
	copy(c.postQ[at:], c.postQ[at+1:])
	c.postQ[n-1] = nil
	c.postQ = c.postQ[:n-1]
	c.postQBytes -= callInputBytes(drop)
	// The take-back tail (the queue's last postQTakeBacks) is one
	// shorter if drop was in it.
	if n-1-at < c.postQTakeBacks {
		c.postQTakeBacks--
	}
	if len(c.postQ) == 0 {
		c.postTimer.Stop()
		c.postQTakeBacks, c.postQKept = 0, 0
	}
	c.mu.Lock()
	delete(c.pending, drop.Seq)
	c.mu.Unlock()
}

// Merger changes a queued posted call (MergePosted): Merge returns how
// many input bytes it added (callInputBytes), or -1 if it changed
// nothing.
type Merger interface {
	Merge() int
}

// MergePosted lets m change call, queued by Post, while it is the
// queue's last call, unsent (nothing was queued or sent after it), and
// the queue is not yet due (postDue: a call merged past it would hold
// the queue's first call longer than the delay). m runs under the send
// lock, so no encoding of the call races it. A queue that the added
// bytes fill to postedFlushBytes goes out at once. merged says m ran
// and changed call; err is a failed send of the queue (the connection
// died: the call is in flight as any other). sentry/client's writes
// behind append a write's bytes to the queued write it continues
// (writemerge.go).
//
// Nothing is merged on a dead connection: a call posted once it died is
// not queued (registerAs refuses it) and the queue keeps what it held,
// so its last call is no longer the last one posted; a merge into it
// would move the added bytes in front of the calls posted since, which
// the caller's recovery re-sends in seq order (a write merged across a
// later lseek landed at the lseek's old offset: e2e
// TestOwnedFileServerKill). c.err is set before any post fails, and
// never cleared, so checking it first suffices.
func (c *StreamConn) MergePosted(call *pb.Call, m Merger) (merged bool, err error) {
	if c.Err() != nil {
		return false, nil
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	n := len(c.postQ)
	if n == 0 || c.postQ[n-1] != call || time.Since(c.postQSince) >= c.postDue() {
		return false, nil
	}
	added := m.Merge()
	if added < 0 {
		return false, nil
	}
	c.postQBytes += added
	if c.postQBytes >= postedFlushBytes {
		return true, c.sendLocked(&c.queueAlone)
	}
	return true, nil
}

// dispatchPosted hands the replies to posted calls that one message
// carried to their callers (dispatchReply), in seq order: replies
// (ServerMessage.posted_replies, or a channel reply's) merged with done
// (posted_done: a result alone each, FeaturePostedDone) and writes
// (posted_writes: a write behind's result and what it wrote, each as a
// Reply with its Reply.written, FeaturePostedWrites). A malformed packed
// batch whose lists differ in length answers the calls all its lists
// name, no more (the others stay in flight). A packed batch's Replies
// are made together, one allocation a batch, and the results' Replies
// of one message serve the next message's once handed out
// (StreamConn.spareDone; TestDispatchPostedAllocs, TestPackedDoneReused).
// It returns how many replies it handed on. Precondition: as
// dispatchReply.
func (c *StreamConn) dispatchPosted(replies []*pb.Reply, done *pb.PostedDone, writes *pb.PostedWrites) int {
	var d packedReplies
	d.addDone(done, c.takeSpareDone())
	d.addWrites(writes)
	n := len(d.done) + len(d.writes)
	for _, r := range replies {
		if r == nil {
			continue
		}
		n++
		d.dispatchBefore(c, r.Seq)
		c.dispatchReply(r)
	}
	d.dispatchBefore(c, math.MaxUint64)
	if d.done != nil && !d.doneKept {
		c.giveSpareDone(d.done)
	}
	return n
}

// takeSpareDone takes the spare array of packed replies (nil: none).
func (c *StreamConn) takeSpareDone() []pb.Reply {
	c.spareMu.Lock()
	defer c.spareMu.Unlock()
	s := c.spareDone
	c.spareDone = nil
	return s
}

// giveSpareDone zeroes done, whose replies were all handed out and none
// kept, and makes it the spare array if it is larger than the one there
// (another dispatch's, given back meanwhile).
func (c *StreamConn) giveSpareDone(done []pb.Reply) {
	clear(done)
	done = done[:cap(done)]
	c.spareMu.Lock()
	defer c.spareMu.Unlock()
	if len(done) > len(c.spareDone) {
		c.spareDone = done
	}
}

// packedReplies are the packed replies of one message (PostedDone,
// PostedWrites), made together, being handed out in seq order with its
// others.
type packedReplies struct {
	// done and writes are the Replies of the two lists, written the
	// writes' Reply.written; nextDone and nextWrite are the first not
	// handed out yet.
	done, writes        []pb.Reply
	written             []pb.PostedWrite
	nextDone, nextWrite int
	// doneKept says a reply of done reached a waiting caller (or none,
	// its call unknown), who may keep it: done is not reused.
	doneKept bool
}

// addDone makes the Replies of p, in spare if it has room (zeroed:
// giveSpareDone).
func (d *packedReplies) addDone(p *pb.PostedDone, spare []pb.Reply) {
	seqs, rets := p.GetSeq(), p.GetRet()
	n := min(len(seqs), len(rets))
	if n == 0 {
		return
	}
	if n <= len(spare) {
		d.done = spare[:n]
	} else {
		d.done = make([]pb.Reply, n)
	}
	for i := range d.done {
		d.done[i].Seq, d.done[i].Ret = seqs[i], rets[i]
	}
}

// addWrites makes the Replies of p.
func (d *packedReplies) addWrites(p *pb.PostedWrites) {
	seqs, rets, files, offs, moved := p.GetSeq(), p.GetRet(), p.GetFile(), p.GetOffset(), p.GetMovedTo()
	n := min(len(seqs), len(rets), len(files), len(offs), len(moved))
	if n == 0 {
		return
	}
	d.writes = make([]pb.Reply, n)
	d.written = make([]pb.PostedWrite, n)
	for i := range d.writes {
		w := &d.written[i]
		w.File, w.Offset, w.MovedTo = files[i], offs[i], moved[i]
		d.writes[i].Seq, d.writes[i].Ret, d.writes[i].Written = seqs[i], rets[i], w
	}
}

// dispatchBefore hands out the packed replies of seqs below seq, in seq
// order.
func (d *packedReplies) dispatchBefore(c *StreamConn, seq uint64) {
	for {
		switch {
		case d.nextDone < len(d.done) && d.done[d.nextDone].Seq < seq &&
			(d.nextWrite == len(d.writes) || d.done[d.nextDone].Seq < d.writes[d.nextWrite].Seq):
			r := &d.done[d.nextDone]
			d.nextDone++
			if !c.dispatchReply(r) {
				d.doneKept = true
			}
		case d.nextWrite < len(d.writes) && d.writes[d.nextWrite].Seq < seq:
			r := &d.writes[d.nextWrite]
			d.nextWrite++
			c.dispatchReply(r)
		default:
			return
		}
	}
}

// postSender sends the queue each time its timer fires, until the
// connection dies.
func (c *StreamConn) postSender() {
	for {
		select {
		case <-c.postTimer.C:
			c.flushPostedLate()
		case <-c.postFull:
			c.flushPostedFull()
		case <-c.done:
			return
		}
	}
}

// flushPostedFull sends the queue if it is still full (queuePosted asked:
// no other message took it along meanwhile).
func (c *StreamConn) flushPostedFull() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.postFullAsked && len(c.postQ) >= maxPostedBatch {
		c.sendLocked(&c.queueAlone)
	}
	c.postFullAsked = false
}

// flushPostedLate sends the queue, which waited postDelay, but its
// take-back tail (keepTakeBackLocked).
func (c *StreamConn) flushPostedLate() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	kept, keeps := c.keepTakeBackLocked()
	if len(c.postQ) == 0 {
		c.restoreKeptLocked(kept, keeps)
		return
	}
	c.postedLate.Add(1)
	c.sendLocked(&c.queueAlone)
	c.restoreKeptLocked(kept, keeps)
}

// sendBeat sends heartbeat m, with the queue but its take-back tail
// (keepTakeBackLocked): a heartbeat need not follow the calls posted
// before it.
func (c *StreamConn) sendBeat(m *pb.ClientMessage) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	kept, keeps := c.keepTakeBackLocked()
	err := c.sendLocked(m)
	c.restoreKeptLocked(kept, keeps)
	return err
}

// maxTakeBackKeeps bounds how many times the timer or a heartbeat
// leaves a take-back tail queued: it goes out within
// (maxTakeBackKeeps+1) post delays of its first call at the latest.
// A directory find lists from a listing ahead and closes, with its
// open and the listing's posted call in the tail, takes a few
// milliseconds (its entries' stat answers), longer under load.
const maxTakeBackKeeps = 4

// keepTakeBackLocked takes the queue's take-back tail out of it for the
// timer's or a heartbeat's send, unless it was kept so maxTakeBackKeeps
// times, and returns it (nil: none) and those times.
// restoreKeptLocked puts it back after the send, as a new queue's first
// calls: they wait one more post delay. Precondition: c.sendMu is held.
func (c *StreamConn) keepTakeBackLocked() ([]*pb.Call, int) {
	n, k := len(c.postQ), c.postQTakeBacks
	if k == 0 || k > n || c.postQKept >= maxTakeBackKeeps {
		return nil, 0
	}
	kept := slices.Clone(c.postQ[n-k:])
	for i, call := range kept {
		c.postQ[n-k+i] = nil
		c.postQBytes -= callInputBytes(call)
	}
	c.postQ = c.postQ[:n-k]
	c.postQTakeBacks = 0
	return kept, c.postQKept
}

// restoreKeptLocked queues kept (keepTakeBackLocked's, kept keeps times
// before) again, alone, or behind what the send left. Precondition:
// c.sendMu is held.
func (c *StreamConn) restoreKeptLocked(kept []*pb.Call, keeps int) {
	if len(kept) == 0 {
		return
	}
	first := len(c.postQ) == 0
	c.postQ = append(c.postQ, kept...)
	for _, call := range kept {
		c.postQBytes += callInputBytes(call)
	}
	c.postQTakeBacks, c.postQKept = len(kept), keeps+1
	if first {
		c.postQSince = time.Now()
		c.postTimer.Reset(c.postDelay)
	}
}

// withPostedLocked returns m with the queued posted calls in front of
// its content and the count of posted batches sent in channel calls
// before it (a copy: the caller may keep m, to send it again after a
// recovery), and empties the queue. The copy is c.postedMsg when the
// wire encodes on send: the caller then calls recyclePostedLocked once
// it is sent. Precondition: c.sendMu is held.
func (c *StreamConn) withPostedLocked(m *pb.ClientMessage) *pb.ClientMessage {
	if len(c.postQ) == 0 && c.chanBatches == 0 {
		return m
	}
	out := &c.postedMsg
	if !c.reusePosted {
		out = new(pb.ClientMessage)
	}
	out.Msg, out.ChannelCallFollows, out.ChannelBatches = m.Msg, m.ChannelCallFollows, c.chanBatches
	if len(c.postQ) > 0 {
		out.PostedCalls = c.postQ
		c.takePostedLocked()
	}
	return out
}

// recycleStamped gives posted, the batch a channel call carried
// (ChannelStamp.posted) and has encoded, its calls forgotten, to the next
// queue if none has started since the stamp (a channel call's batch then
// costs no queue growth either); else it is dropped. Called by CallInto;
// the stamp's posted calls are not read after it.
func (c *StreamConn) recycleStamped(posted []*pb.Call) {
	if len(posted) == 0 || cap(posted) > maxRecycledQueue {
		return
	}
	clear(posted)
	c.sendMu.Lock()
	if cap(c.postQ) == 0 {
		c.postQ = posted[:0]
	}
	c.sendMu.Unlock()
}

// maxRecycledQueue bounds the queue array recyclePostedLocked keeps: a
// queue grows past maxPostedBatch only by a take-back tail put back
// behind it (restoreKeptLocked).
const maxRecycledQueue = 2 * maxPostedBatch

// recyclePostedLocked makes c.postedMsg, just sent, empty again, and
// gives its queue's array (its calls forgotten, so that a replied call
// is not kept alive by it) to the next queue: a program that keeps
// posting fills the same array batch after batch instead of growing a
// new one each time (1, 2, 4 ... 64 pointers: 7 allocations a batch of
// 64). A channel call's batch (StampChannel) leaves with its stamp,
// which the caller encodes after the send lock is released: CallInto
// gives it back then (recycleStamped). Precondition: c.sendMu is held,
// and the wire encodes on send (c.reusePosted).
func (c *StreamConn) recyclePostedLocked() {
	calls := c.postedMsg.PostedCalls
	c.postedMsg.Reset()
	if len(c.postQ) > 0 || cap(calls) > maxRecycledQueue {
		return
	}
	clear(calls)
	c.postQ = calls[:0]
}

// takePostedLocked empties the queue, whose calls are on their way.
// Precondition: c.sendMu is held.
func (c *StreamConn) takePostedLocked() {
	c.postQ, c.postQBytes = nil, 0
	c.postQTakeBacks, c.postQKept = 0, 0
	c.postFullAsked = false
	c.postTimer.Stop()
	c.postBatches.Add(1)
}

// PostedBatches counts the frames and channel calls that carried posted
// calls queued by GoPosted (tests and the end-of-session counts).
func (c *StreamConn) PostedBatches() uint64 { return c.postBatches.Load() }

// PostedLate counts the queues the post delay's timer sent (tests and
// the end-of-session counts).
func (c *StreamConn) PostedLate() uint64 { return c.postedLate.Load() }

// ChannelBatches counts the posted batches that rode inside channel
// calls (tests and the end-of-session counts).
func (c *StreamConn) ChannelBatches() uint64 { return c.chanBatched.Load() }
