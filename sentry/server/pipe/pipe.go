package pipe

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

const (
	// DefaultCapacity is a new pipe's size (Linux's 16 pages).
	DefaultCapacity = 64 << 10
	// AtomicIOBytes is PIPE_BUF: writes up to this size are atomic.
	AtomicIOBytes = 4096
)

var lastIno atomic.Uint64

// NewIno returns a new number of the pipes' inodes (Linux's pipefs), for
// what stands for a pipe without being one (the client's stdio
// streams), so that no two share a number.
func NewIno() uint64 { return lastIno.Add(1) }

// Pipe is an in-memory pipe shared by its read and write ends: made by
// pipe(2), or by the opens of a FIFO (FIFOTable). N is the server's FIFO
// node (its dentry), nil for pipe(2).
type Pipe[N comparable] struct {
	ino uint64 // immutable
	// fifo is the FIFO's node (inode fifoIno) and fifos the table that holds the pipe
	// while it is open; all zero for pipe(2). Set when made, or by
	// FIFOTable.Register during Restore, before any call can reach it.
	fifo    N
	fifos   *FIFOTable[N]
	fifoIno uint64
	// onChange is told when the end counts or the size change (the
	// replay hook). Immutable.
	onChange func(*Pipe[N])

	// mu protects the fields below. It nests inside kernel.Kernel.Mu and
	// FIFOTable.mu; two pipes' mu are taken in inode order (LockTwo).
	mu sync.Mutex
	// buf holds unread data, at most CapacityLocked() bytes.
	buf []byte
	// capacity is the pipe's size, set by pipe(2) and F_SETPIPE_SZ (0:
	// DefaultCapacity).
	capacity int
	// readers and writers count open read and write descriptions;
	// ropens and wopens count the opens of each end ever made (a FIFO
	// open waiting for its partner wakes when they change).
	readers, writers int
	ropens, wopens   uint64
	// changed is notified when data, space, or the end counts change.
	changed wake.Notifier
	// readWake is notified when the read end may have become ready (a
	// write, an end opened or closed, a resize), writeWake when the write
	// end may have (a read that left room for PIPE_BUF bytes where there
	// was none, an end opened or closed, a resize). Poll readiness waits
	// on them, as on Linux's rd_wait and wr_wait, so that an
	// edge-triggered epoll sees Linux's wakeups and no others (a read
	// does not wake the read end).
	readWake, writeWake wake.Notifier

	// Replay state. id is the pipe's id (0 until first reported). total
	// is the position (in the pipe's byte stream) of the next byte
	// written. writtenC and readC are the committed counts: bytes written
	// and read by calls whose replies were built. skip is how many of the
	// next bytes written to discard: a restored pipe whose reader already
	// read bytes of a write that had not completed when the previous
	// server died.
	id                    uint64
	total                 uint64
	writtenC, readC, skip uint64

	// acct is the client's memory account, charged the pipe's capacity
	// while it exists (DefaultCapacity when made, then what F_SETPIPE_SZ
	// sets); reserved is what the pipe holds of it (set when the pipe is
	// made, changed under mu by SetCapacity, swapped to 0 when returned:
	// once, when no description can reach the pipe any more).
	acct     *memacct.Account
	reserved atomic.Int64
}

// New makes a pipe(2) with one reader and one writer, charged to acct
// (its error, ENOMEM, beyond the account's limit). onChange is the
// replay hook.
func New[N comparable](acct *memacct.Account, onChange func(*Pipe[N])) (*Pipe[N], error) {
	p := &Pipe[N]{ino: NewIno(), readers: 1, writers: 1, ropens: 1, wopens: 1, onChange: onChange}
	if err := p.reserve(acct); err != nil {
		return nil, err
	}
	return p, nil
}

// Restore rebuilds a pipe reported as ps (its id, counters, size and
// unread bytes) with no ends yet (AddEnd adds them); it reserves its
// size from acct whatever the limit, since the client held it on its
// previous server.
func Restore[N comparable](ps *sentrypb.PipeState, id uint64, acct *memacct.Account, onChange func(*Pipe[N])) *Pipe[N] {
	p := &Pipe[N]{ino: NewIno(), id: id, onChange: onChange, ropens: 1, wopens: 1, acct: acct}
	if ps != nil {
		p.writtenC, p.readC, p.total = ps.Written, ps.Read, ps.Written
		p.capacity = int(ps.Capacity)
		if ps.Read > ps.Written {
			p.skip = ps.Read - ps.Written
		}
		if len(ps.Data) > 0 {
			p.buf = append([]byte(nil), ps.Data...)
		}
	}
	res := int64(max(p.capacity, DefaultCapacity))
	acct.Force(res)
	p.reserved.Store(res)
	return p
}

// reserve charges the pipe's capacity to acct.
func (p *Pipe[N]) reserve(acct *memacct.Account) error {
	if err := acct.Charge(DefaultCapacity); err != nil {
		return err
	}
	p.acct = acct
	p.reserved.Store(DefaultCapacity)
	return nil
}

// unreserve returns what the pipe reserved, once: when no description
// has it open and no open can find it again.
func (p *Pipe[N]) unreserve() {
	if n := p.reserved.Swap(0); n != 0 {
		p.acct.Release(n)
	}
}

func (p *Pipe[N]) changedHook() {
	if p.onChange != nil {
		p.onChange(p)
	}
}

// Ino is the pipe's inode number (pipefs).
func (p *Pipe[N]) Ino() uint64 { return p.ino }

// FIFO is the FIFO node of the pipe (zero for pipe(2)).
func (p *Pipe[N]) FIFO() N { return p.fifo }

// Lock and Unlock take and drop the pipe's mu, for the *Locked methods.
func (p *Pipe[N]) Lock()   { p.mu.Lock() }
func (p *Pipe[N]) Unlock() { p.mu.Unlock() }

// LockTwo locks two different pipes in inode order (the lock order of
// two pipes' mu).
func LockTwo[N comparable](a, b *Pipe[N]) {
	if a.ino > b.ino {
		a, b = b, a
	}
	a.mu.Lock()
	b.mu.Lock()
}

// AddEndLocked counts a new open description that reads, writes, or
// both. Precondition: p's mu is held.
func (p *Pipe[N]) AddEndLocked(reads, writes bool) {
	if reads {
		p.readers++
		p.ropens++
	}
	if writes {
		p.writers++
		p.wopens++
	}
	p.notifyAllLocked()
}

// AddEnd is AddEndLocked with mu taken, followed by the replay hook.
func (p *Pipe[N]) AddEnd(reads, writes bool) {
	p.mu.Lock()
	p.AddEndLocked(reads, writes)
	p.mu.Unlock()
	p.changedHook()
}

// ReleaseEnd drops an open description that read, wrote, or both. With
// no reader left the unread bytes are dropped (nobody can read them;
// Linux frees them too, and the client need not retain them). A pipe no
// description can reach any more returns its reservation.
func (p *Pipe[N]) ReleaseEnd(reads, writes bool) {
	p.mu.Lock()
	if writes {
		p.writers--
	}
	if reads {
		p.readers--
		if p.readers == 0 {
			p.buf = nil
			p.readC = max(p.readC, p.writtenC)
		}
	}
	p.notifyAllLocked()
	unused := p.readers+p.writers == 0
	p.mu.Unlock()
	p.changedHook()
	if p.fifos != nil {
		// Until dropIfUnused forgets it, an open may find it again.
		p.fifos.dropIfUnused(p)
	} else if unused {
		p.unreserve()
	}
}

// notifyAllLocked wakes every waiter of the pipe. Precondition: mu.
func (p *Pipe[N]) notifyAllLocked() {
	p.changed.Notify()
	p.readWake.Notify()
	p.writeWake.Notify()
}

// WritableLocked says the write end polls writable: room for PIPE_BUF
// bytes. Precondition: mu.
func (p *Pipe[N]) WritableLocked() bool { return p.CapacityLocked()-len(p.buf) >= AtomicIOBytes }

// wakeAfterReadLocked wakes the waiters a read of the pipe concerns: the
// write end's when the read left room for PIPE_BUF bytes where there was
// none (Linux wakes writers when a full pipe frees a buffer), the read
// end's when the pipe is now empty (no longer readable: an O_ASYNC
// watcher follows its readiness), and the blocked calls'.
// Precondition: mu.
func (p *Pipe[N]) wakeAfterReadLocked(wasWritable bool) {
	p.changed.Notify()
	if !wasWritable && p.WritableLocked() {
		p.writeWake.Notify()
	}
	if len(p.buf) == 0 {
		p.readWake.Notify()
	}
}

// wakeAfterWriteLocked wakes the waiters a write to the pipe concerns:
// the read end's (Linux wakes readers at every write once the pipe was
// polled), the write end's when the write left no room for PIPE_BUF
// bytes where there was, and the blocked calls'. Precondition: mu.
func (p *Pipe[N]) wakeAfterWriteLocked(wasWritable bool) {
	p.changed.Notify()
	p.readWake.Notify()
	if wasWritable && !p.WritableLocked() {
		p.writeWake.Notify()
	}
}

// CapacityLocked is the pipe's size. Precondition: mu.
func (p *Pipe[N]) CapacityLocked() int {
	if p.capacity == 0 {
		return DefaultCapacity
	}
	return p.capacity
}

// Capacity is CapacityLocked with mu taken.
func (p *Pipe[N]) Capacity() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.CapacityLocked()
}

// LimitNewCapacity sets the size of a pipe no one else can reach yet (an
// unprivileged pipe(2) starts no larger than fs/pipe-max-size); its
// reservation is unchanged, as Linux's.
func (p *Pipe[N]) LimitNewCapacity(size int) {
	p.mu.Lock()
	p.capacity = size
	p.mu.Unlock()
}

// SetCapacity serves F_SETPIPE_SZ with size already validated: EBUSY
// below the bytes held; the reservation follows the size (a larger pipe
// needs room in the client's memory account: its error).
func (p *Pipe[N]) SetCapacity(size int) error {
	p.mu.Lock()
	if len(p.buf) > size {
		p.mu.Unlock()
		return unix.EBUSY
	}
	if grow := int64(size) - p.reserved.Load(); grow > 0 && p.acct != nil {
		if err := p.acct.Charge(grow); err != nil {
			p.mu.Unlock()
			return err
		}
		p.reserved.Add(grow)
	} else if grow < 0 && p.acct != nil {
		p.reserved.Add(grow)
		p.acct.Release(-grow)
	}
	p.capacity = size
	p.notifyAllLocked()
	p.mu.Unlock()
	p.changedHook()
	return nil
}

// LenLocked is how many bytes the pipe holds. Precondition: mu.
func (p *Pipe[N]) LenLocked() int { return len(p.buf) }

// Len is LenLocked with mu taken (FIONREAD, stat's size).
func (p *Pipe[N]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf)
}

// SpaceLocked is the room left below the pipe's size. Precondition: mu.
func (p *Pipe[N]) SpaceLocked() int { return p.CapacityLocked() - len(p.buf) }

// ReadersLocked and WritersLocked are the open read and write
// descriptions. Precondition: mu.
func (p *Pipe[N]) ReadersLocked() int { return p.readers }
func (p *Pipe[N]) WritersLocked() int { return p.writers }

// OpensLocked are the opens of the read and write ends ever made.
// Precondition: mu.
func (p *Pipe[N]) OpensLocked() (ropens, wopens uint64) { return p.ropens, p.wopens }

// InUse says a description has the pipe open.
func (p *Pipe[N]) InUse() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readers+p.writers > 0
}

// ChangedLocked is closed when data, space or the end counts next
// change. Precondition: mu.
func (p *Pipe[N]) ChangedLocked() <-chan struct{} { return p.changed.Wait() }

// ReadyLocked is the pipe's poll state for an end that reads, writes or
// both (hasData, hasSpace for PIPE_BUF bytes, no reader, hung up: no
// writer, once one was opened) and the channel to wait on for a change
// of it. Precondition: mu.
func (p *Pipe[N]) ReadyLocked(reads, writes bool) (hasData, hasSpace, noReader, hungUp bool, ch <-chan struct{}) {
	hasData = len(p.buf) > 0
	hasSpace = p.WritableLocked()
	noReader = p.readers == 0
	// A FIFO that never had a writer does not hang up (Linux).
	hungUp = p.writers == 0 && p.wopens > 0
	switch {
	case reads && writes:
		ch = p.changed.Wait()
	case reads:
		ch = p.readWake.Wait()
	default:
		ch = p.writeWake.Wait()
	}
	return
}

// PeekLocked copies up to n of the bytes the pipe holds, leaving them.
// Precondition: mu.
func (p *Pipe[N]) PeekLocked(n int) []byte {
	return append([]byte(nil), p.buf[:min(n, len(p.buf))]...)
}

// ConsumeLocked takes up to n bytes out of the pipe (they were read) and
// returns how many. Precondition: mu.
func (p *Pipe[N]) ConsumeLocked(n int) int {
	n = min(n, len(p.buf))
	if n <= 0 {
		return 0
	}
	wasWritable := p.WritableLocked()
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil
	}
	p.wakeAfterReadLocked(wasWritable)
	return n
}

// PushLocked appends as much of b as fits below the pipe's size (none if
// all of b must go at once and does not fit) and returns how many bytes
// and their position in the pipe's byte stream. Precondition: mu.
func (p *Pipe[N]) PushLocked(b []byte, whole bool) (n int, pos uint64) {
	space := p.SpaceLocked()
	n = min(len(b), space)
	if n <= 0 || (whole && n < len(b)) {
		return 0, p.total
	}
	return n, p.appendLocked(b[:n])
}

// MaxPostedOverflow bounds how far past its size posted writes may fill
// a pipe (PushPostedLocked). A client posts only within the room the
// server last granted (PostedRoomLocked), so a pipe overflows only when
// that room shrank meanwhile: F_SETPIPE_SZ made it smaller, or a write
// description opened since (an open of /proc/<pid>/fd/N) wrote first.
const MaxPostedOverflow = DefaultCapacity

// PushPostedLocked appends all of b, a posted write's bytes (the
// application was told they were written), even past the pipe's size by
// up to MaxPostedOverflow: a posted write must not block its thread's
// worker, since the calls other threads wait for run only after it
// (a reader's among them). It returns false, appending nothing, when b
// goes beyond that bound (a client that posted more than its room).
// Precondition: mu.
func (p *Pipe[N]) PushPostedLocked(b []byte) (pos uint64, ok bool) {
	if len(p.buf)+len(b) > p.CapacityLocked()+MaxPostedOverflow {
		return p.total, false
	}
	return p.appendLocked(b), true
}

// PostedRoomLocked is the room the write end granting it may fill with
// posted writes: the pipe's free space while it has a reader and one
// write description (so that only that description's writes take the
// space, and only readers free more); 0 otherwise. Precondition: mu.
func (p *Pipe[N]) PostedRoomLocked() int {
	if p.readers == 0 || p.writers != 1 {
		return 0
	}
	return max(p.SpaceLocked(), 0)
}

// appendLocked appends b (all of it) and returns the position of its
// first byte in the pipe's byte stream. Precondition: mu.
func (p *Pipe[N]) appendLocked(b []byte) (pos uint64) {
	n := len(b)
	wasWritable := p.WritableLocked()
	pos = p.total
	p.total += uint64(n)
	if p.skip > 0 {
		// Bytes the restored pipe's reader already read.
		d := min(p.skip, uint64(len(b)))
		p.skip -= d
		b = b[d:]
	}
	p.buf = append(p.buf, b...)
	p.wakeAfterWriteLocked(wasWritable)
	return pos
}

// IDLocked is the pipe's replay id, made by newID when it has none yet.
// Precondition: mu.
func (p *Pipe[N]) IDLocked(newID func() uint64) uint64 {
	if p.id == 0 {
		p.id = newID()
	}
	return p.id
}

// CommitReadLocked and CommitWrittenLocked count n bytes read or written
// by a call whose reply was built. Precondition: mu.
func (p *Pipe[N]) CommitReadLocked(n uint64)    { p.readC += n }
func (p *Pipe[N]) CommitWrittenLocked(n uint64) { p.writtenC += n }

// StateLocked is the pipe's replay record (without its unread bytes) and
// whether a description still has it open. Precondition: mu.
func (p *Pipe[N]) StateLocked(id uint64) (*sentrypb.PipeState, bool) {
	return &sentrypb.PipeState{Id: id, Written: p.writtenC, Read: p.readC, Capacity: uint32(p.capacity), NoReader: p.readers == 0}, p.readers+p.writers > 0
}
