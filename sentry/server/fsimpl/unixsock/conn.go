package unixsock

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

var connIDs atomic.Uint64

// Conn mirrors what is queued in each direction of a socketpair, so
// that recovery can rebuild the pair with its data: gVisor's transport
// cannot read a queue without consuming it. Sends and receives on the
// pair hold mu around the transport call and the mirror's update, so
// that both see the same order.
type Conn struct {
	// ID (its replay records') and Stream are immutable.
	ID     uint64
	Stream bool

	// Mu protects the fields below. It nests inside the server's
	// clientState.Mu (records) and outside the transport's locks.
	Mu sync.Mutex
	// Files are the two ends' descriptions (not referenced): side 0 is
	// a socketpair's first end or the connecting socket, side 1 the
	// other end or the accepted socket (nil until accepted).
	Files [2]*fdesc.File
	// Queued[i] is what side i has yet to read: chunks of the byte
	// stream, or one message each.
	Queued [2][][]byte
	// Broken is set once something the mirror does not hold (SCM_RIGHTS)
	// was sent: the pair is then not rebuilt.
	Broken bool
	// Charge[i] is, for datagrams, what the messages side i has yet to
	// read cost their sender's send buffer, as Linux counts it
	// (DgramCharge); meaningful while the mirror is not broken.
	Charge [2]int64
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
	return !cn.Stream && !cn.Broken && cn.Charge[1-side] >= sndbuf
}

// DgramWritable says side's send buffer is writable as Linux's poll
// says (its charge at most a quarter of it).
func (cn *Conn) DgramWritable(side int, sndbuf int64) bool {
	cn.Mu.Lock()
	defer cn.Mu.Unlock()
	return cn.Stream || cn.Broken || 4*cn.Charge[1-side] <= sndbuf
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
	cn.Queued[1-side] = append(cn.Queued[1-side], b)
	if !cn.Stream {
		cn.Charge[1-side] += DgramCharge(int(n))
	}
}

// ReceivedLocked records that side read n bytes (a message, if not stream).
func (cn *Conn) ReceivedLocked(side int, n int64) {
	q := cn.Queued[side]
	if !cn.Stream {
		if len(q) > 0 {
			cn.Charge[side] -= DgramCharge(len(q[0]))
			q[0] = nil
			cn.Queued[side] = q[1:]
		}
		return
	}
	for n > 0 && len(q) > 0 {
		if int64(len(q[0])) > n {
			q[0] = q[0][n:]
			break
		}
		n -= int64(len(q[0]))
		q[0] = nil
		q = q[1:]
	}
	cn.Queued[side] = q
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
