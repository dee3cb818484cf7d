package unixsock

import (
	"fmt"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

var connIDs atomic.Uint64

// Conn mirrors what is queued in each direction of a connection (a
// socketpair, or a connect and its accept), so that recovery can rebuild
// it with its data: gVisor's transport cannot read a queue without
// consuming it. Sends and receives on the connection hold Mu around the
// transport call and the mirror's update, so that both see the same
// order.
//
// The replay record of each end reports what that end has yet to read as
// of the calls whose replies were built (ReplayLocked), not as of
// the moment: another thread's message may be built between a send and
// its reply (the receiver's read returns first), and if the server dies
// before that reply, the client re-sends the send. So a restored
// direction knows how many units (bytes of a stream, messages of a
// datagram socket) were read and written by answered calls; the bytes
// read ahead of what was written (a read answered before the send it
// read) are dropped from the re-sent send (Inbox.skip), and the bytes a
// read without a reply took are queued again for its re-sent read. As
// with a pipe, this is exact with one sender each way.
type Conn struct {
	// ID (its replay records') and Stream are immutable.
	ID     uint64
	Stream bool

	// Mu protects the fields below. It nests inside the server's
	// kernel.Kernel.Mu (records) and outside the transport's locks.
	Mu sync.Mutex
	// Files are the two ends' descriptions (not referenced): side 0 is
	// a socketpair's first end or the connecting socket, side 1 the
	// other end or the accepted socket (nil until accepted).
	Files [2]*fdesc.File
	// In[i] is what side i has yet to read.
	In [2]Inbox
	// Broken is set once something the mirror does not hold (SCM_RIGHTS)
	// was sent: the pair is then not rebuilt.
	Broken bool
}

// Inbox is what one side of a Conn has yet to read, now and as answered
// calls left it. Positions count units: bytes of a stream, messages of
// a datagram socket. Protected by the Conn's Mu.
type Inbox struct {
	// kept are the units from position readC on: first those read by
	// calls whose replies were not built yet (taken of them), then those
	// still queued, up to position sent (chunks of the byte stream, or
	// one message each). A chunk is never changed once kept: records
	// share it.
	kept  [][]byte
	taken uint64
	sent  uint64
	// readC and writtenC are the units read and written by calls whose
	// replies were built (CommitLocked).
	readC, writtenC uint64
	// skip is how many units of the next sends to drop: a restored
	// direction whose reader read them before the send that wrote them
	// had its reply.
	skip uint64
	// charge is, for datagrams, what the queued messages cost their
	// sender's send buffer, as Linux counts it (DgramCharge); meaningful
	// while the mirror is not broken.
	charge int64
}

// IORecorder is the call a connection's I/O happens in: RecordConnIO
// notes n units sent (sent) or read by side, which the caller commits
// (Conn.CommitLocked) when its reply is built, and reports whether it
// will. The units of a call that is not one (the server's own) are
// committed at once.
type IORecorder interface {
	RecordConnIO(cn *Conn, side int, sent bool, n uint64) bool
}

// recordLocked notes n units sent (sent) or read by side in call c.
// Precondition: cn.Mu is held.
func (cn *Conn) recordLocked(c fdesc.Call, side int, sent bool, n uint64) {
	if n == 0 {
		return
	}
	if r, ok := c.(IORecorder); ok && r.RecordConnIO(cn, side, sent, n) {
		return
	}
	cn.CommitLocked(side, sent, n)
}

// Datagram buffer charge. Linux charges a unix datagram to its sender's
// SO_SNDBUF until it is read, at the size of its sk_buff: the payload in
// a kmalloc'd buffer (64-byte aligned, plus the 320-byte shared info,
// rounded up to the allocation's size class) plus 256 for the sk_buff
// itself; a send is refused (EAGAIN, or it blocks) while the charge is
// at or above SO_SNDBUF. So a default socketpair holds 278 one-byte
// datagrams, where gVisor's transport, which counts payload bytes
// against the receive buffer, holds 212,992. The server applies Linux's
// rule to socketpairs (whose sender is known), on top of the transport's.
const (
	skbOverhead    = 256
	skbSharedInfo  = 320
	skbDataAlign   = 64
	skbMaxKmalloc  = 8 << 10
	skbPageCharged = 4 << 10
)

// DgramCharge is what a datagram of n bytes costs its sender's buffer.
func DgramCharge(n int) int64 {
	data := (int64(n)+skbDataAlign-1)&^(skbDataAlign-1) + skbSharedInfo
	if data <= skbMaxKmalloc {
		size := int64(skbDataAlign)
		for size < data {
			size *= 2
		}
		data = size
	} else {
		data = (data + skbPageCharged - 1) &^ (skbPageCharged - 1)
	}
	return data + skbOverhead
}

// DgramFullLocked says side may not send now: its unread datagrams
// charge its send buffer sndbuf or more. Precondition: cn.mu is held.
func (cn *Conn) DgramFullLocked(side int, sndbuf int64) bool {
	return !cn.Stream && !cn.Broken && cn.In[1-side].charge >= sndbuf
}

// DgramWritable says side's send buffer is writable as Linux's poll
// says (its charge at most a quarter of it).
func (cn *Conn) DgramWritable(side int, sndbuf int64) bool {
	cn.Mu.Lock()
	defer cn.Mu.Unlock()
	return cn.Stream || cn.Broken || 4*cn.In[1-side].charge <= sndbuf
}

// NewConn returns a connection of id (0: a new one), a stream or not.
func NewConn(id uint64, stream bool) *Conn {
	if id == 0 {
		id = connIDs.Add(1)
	} else {
		// A restored pair keeps its id; new ones must not reuse it.
		for cur := connIDs.Load(); id > cur && !connIDs.CompareAndSwap(cur, id); cur = connIDs.Load() {
		}
	}
	return &Conn{ID: id, Stream: stream}
}

// PairFiles makes a and b the two ends of socketpair cn.
func (cn *Conn) PairFiles(a, b *fdesc.File) {
	cn.Files = [2]*fdesc.File{a, b}
	a.Impl.(*File).End.Store(&ConnEnd{cn, 0})
	b.Impl.(*File).End.Store(&ConnEnd{cn, 1})
}

// SkipLocked is how much of the n bytes side is about to send the other
// side read before the server that took them died: they are dropped, not
// sent, and counted off. It returns the bytes and their units (bytes of
// a stream; a datagram's one message: all its n bytes). Precondition:
// cn.Mu is held.
func (cn *Conn) SkipLocked(side int, n int64) (bytes int64, units uint64) {
	in := &cn.In[1-side]
	if in.skip == 0 || cn.Broken {
		return 0, 0
	}
	if !cn.Stream {
		in.skip--
		return n, 1
	}
	d := min(in.skip, uint64(n))
	in.skip -= d
	return int64(d), d
}

// SentLocked records n bytes of src sent by side (with rights: broken).
func (cn *Conn) SentLocked(side int, src usermem.IOSequence, n int64, rights bool) {
	if rights {
		cn.Broken = true
	}
	if cn.Broken || (n == 0 && cn.Stream) {
		return
	}
	b := make([]byte, n)
	if _, err := src.CopyIn(kobj.Ctx(), b); err != nil {
		cn.Broken = true
		return
	}
	cn.In[1-side].queue(b, cn.Stream)
}

// queue appends unit b (a stream's chunk, or a message).
func (in *Inbox) queue(b []byte, stream bool) {
	in.kept = append(in.kept, b)
	if stream {
		in.sent += uint64(len(b))
		return
	}
	in.sent++
	in.charge += DgramCharge(len(b))
}

// ReceivedLocked records that side read n bytes (a message, if not
// stream) and returns the units read.
func (cn *Conn) ReceivedLocked(side int, n int64) uint64 {
	in := &cn.In[side]
	if cn.Broken {
		return 0
	}
	if !cn.Stream {
		if in.taken >= uint64(len(in.kept)) {
			return 0
		}
		in.charge -= DgramCharge(len(in.kept[in.taken]))
		in.taken++
		return 1
	}
	u := min(uint64(n), in.sent-in.readC-in.taken)
	in.taken += u
	return u
}

// CommitLocked commits n units sent by side (sent) or read by it, by a
// call whose reply is being built: the replay record reports them from
// now on. Precondition: cn.Mu is held.
func (cn *Conn) CommitLocked(side int, sent bool, n uint64) {
	if sent {
		cn.In[1-side].writtenC += n
		return
	}
	in := &cn.In[side]
	n = min(n, in.taken)
	in.readC += n
	in.taken -= n
	in.kept = dropUnits(in.kept, n, cn.Stream)
}

// InboxOf returns the side of the connection whose inbox a commit of
// I/O by side (sent or read) changes.
func InboxOf(side int, sent bool) int {
	if sent {
		return 1 - side
	}
	return side
}

// QueuedLocked is what side has yet to read now (chunks of the byte
// stream, or one message each; shared, not to be changed).
// Precondition: cn.Mu is held.
func (cn *Conn) QueuedLocked(side int) [][]byte {
	in := &cn.In[side]
	return dropUnits(in.kept, in.taken, cn.Stream)
}

// ReplayLocked is what side has yet to read as answered calls left it:
// the units written and not read by them (none if they read more than
// was written; shared, not to be changed), and their counts.
// Precondition: cn.Mu is held.
func (cn *Conn) ReplayLocked(side int) (queued [][]byte, read, written uint64) {
	in := &cn.In[side]
	if in.writtenC > in.readC {
		queued = firstUnits(in.kept, in.writtenC-in.readC, cn.Stream)
	}
	return queued, in.readC, in.writtenC
}

// RestoreCountsLocked starts side's inbox of a restored connection as
// its record left it (ReplayLocked's counts and queued units, which
// RefillLocked then puts back): if the reader had read more
// than was written, the next sends drop the difference. Queued units
// count as written after those read whatever written says (a record of a
// server that did not count them has zeros). Precondition: cn.Mu is
// held.
func (cn *Conn) RestoreCountsLocked(side int, read, written uint64, queued [][]byte) {
	var units uint64
	for _, b := range queued {
		units += sentUnits(cn.Stream, int64(len(b)))
	}
	in := Inbox{readC: read, writtenC: written, sent: read + units}
	switch {
	case units > 0:
		in.writtenC = read + units
	case read > written:
		in.skip = read - written
	}
	cn.In[side] = in
}

// RefillLocked puts queued, side's units as its record left them, back
// into the connection's transport, sent by from (the other side's
// endpoint), after RestoreCountsLocked. Precondition: cn.Mu is held.
func (cn *Conn) RefillLocked(side int, from *socket.Unix, queued [][]byte) error {
	in := &cn.In[side]
	for _, b := range queued {
		n, err := from.Send(usermem.BytesIOSequence(b), transport.ControlMessages{}, nil)
		if err != nil || n != int64(len(b)) {
			return fmt.Errorf("%d of %d bytes queued again: %v", n, len(b), err)
		}
		in.kept = append(in.kept, b)
		if !cn.Stream {
			in.charge += DgramCharge(len(b))
		}
	}
	return nil
}

// dropUnits returns q without its first n units (bytes of a stream, or
// messages); q and its chunks are not changed.
func dropUnits(q [][]byte, n uint64, stream bool) [][]byte {
	if !stream {
		return q[min(n, uint64(len(q))):]
	}
	for n > 0 && len(q) > 0 {
		if uint64(len(q[0])) > n {
			return append([][]byte{q[0][n:]}, q[1:]...)
		}
		n -= uint64(len(q[0]))
		q = q[1:]
	}
	return q
}

// firstUnits returns a copy of the list of q's first n units.
func firstUnits(q [][]byte, n uint64, stream bool) [][]byte {
	var out [][]byte
	for _, b := range q {
		if n == 0 {
			break
		}
		if !stream {
			out = append(out, b)
			n--
			continue
		}
		if uint64(len(b)) > n {
			b = b[:n]
		}
		out = append(out, b)
		n -= uint64(len(b))
	}
	return out
}

// Changed reports both ends' replay state (their queues changed).
func (cn *Conn) Changed() {
	cn.Mu.Lock()
	files := cn.Files
	cn.Mu.Unlock()
	for _, f := range files {
		if f != nil && !f.Released() {
			f.Changed()
		}
	}
}
