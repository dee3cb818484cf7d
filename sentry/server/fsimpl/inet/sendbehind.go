package inet

import (
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// Writes behind on a netstack TCP connection (sentry/client/sendbehind.go).
//
// The client posts a write to a connected TCP socket (tells the
// application it wrote every byte, without waiting) when the server said
// it has room for it: SendRoom, in the reply of the socket's last read or
// write. A posted write the endpoint cannot take whole at once does not
// block its thread's worker: the rest is held here, in order, and a
// goroutine hands it to the endpoint as its send buffer drains. The
// socket's send buffer is thus SO_SNDBUF plus up to SendBehindBudget
// bytes held for posted writes. While bytes are held, the socket is not
// writable (poll), a waited write waits until they went out (a
// non-blocking one fails with EAGAIN), and an error sending them
// (ECONNRESET, EPIPE) is the socket's next write's.

// SendBehindBudget bounds the bytes a socket holds for posted writes: the
// room SendRoom reports is what is left of it. A client that posts more
// (a hostile one) has its write block its worker, as a waited write does.
const SendBehindBudget = 64 << 10

// sendBehind is a socket's held bytes of posted writes.
type sendBehind struct {
	// mu protects the fields below. A leaf.
	mu sync.Mutex
	// held are the bytes posted writes left for the endpoint, in order.
	held []byte
	// drained is closed when held empties (nil while it is empty).
	drained chan struct{}
	// draining says a goroutine is handing held to the endpoint.
	draining bool
	// err is the error handing held to the endpoint met: the next
	// write's.
	err error
	// stopped is set by Release: the drain releases the endpoint when
	// it ends.
	stopped bool
}

// heldLocked reports whether bytes are held. Precondition: mu is held.
func (b *sendBehind) heldLocked() bool { return len(b.held) > 0 }

// emptyLocked forgets the held bytes and wakes those waiting for them to
// go. Precondition: mu is held.
func (b *sendBehind) emptyLocked() {
	b.held = nil
	if b.drained != nil {
		close(b.drained)
		b.drained = nil
	}
}

// SendRoom is how many bytes of posted writes the socket takes now
// without blocking (Reply.send_room): what is left of SendBehindBudget,
// on an established TCP connection that was not lost; 0 otherwise.
func (s *File) SendRoom() uint64 {
	if !s.S.Stream || tcp.EndpointState(s.S.EP.State()) != tcp.StateEstablished {
		return 0
	}
	if _, _, lost := s.Lost(); lost {
		return 0
	}
	s.behind.mu.Lock()
	defer s.behind.mu.Unlock()
	if s.behind.err != nil || s.behind.stopped {
		return 0
	}
	return uint64(SendBehindBudget - len(s.behind.held))
}

// WritePosted is a posted write(2), or send(2) with flags (MSG_NOSIGNAL,
// MSG_DONTWAIT), of src: it returns the whole count once the endpoint took
// src or the rest is held (see above), or the error the socket's send
// fails with now.
func (s *File) WritePosted(c fdesc.Call, f *fdesc.File, src usermem.IOSequence, flags int) (int64, error) {
	b := &s.behind
	b.mu.Lock()
	if err := b.err; err != nil {
		b.err = nil
		b.mu.Unlock()
		return 0, err
	}
	idle := !b.heldLocked()
	b.mu.Unlock()
	if s.lost.resetPending() {
		// Posted before the connection was lost with a server (re-sent
		// by the recovery, or sent before it was seen): its bytes are
		// lost with the connection, as a write the reset came after,
		// and the reset is left to the application's next call.
		return src.NumBytes(), nil
	}
	if _, _, lost := s.Lost(); lost || !s.S.Stream {
		return s.Send(c, f, src, nil, flags)
	}
	total := src.NumBytes()
	if idle {
		n, err := s.S.Send(src, nil, false)
		if err != nil && err != unix.EAGAIN {
			if n > 0 {
				return n, nil
			}
			if err == unix.EPIPE && flags&unix.MSG_NOSIGNAL == 0 {
				c.RaiseSIGPIPE()
			}
			return 0, err
		}
		src = src.DropFirst64(n)
		if src.NumBytes() == 0 {
			return total, nil
		}
	}
	rest := make([]byte, src.NumBytes())
	if _, err := src.CopyIn(kobj.Ctx(), rest); err != nil {
		return total - src.NumBytes(), nil
	}
	b.mu.Lock()
	if len(b.held)+len(rest) > SendBehindBudget {
		// More than the room the client was told of: the write waits
		// for its turn and blocks, as a waited one.
		b.mu.Unlock()
		n, err := s.Send(c, f, usermem.BytesIOSequence(rest), nil, flags)
		if n == 0 && err != nil {
			return total - int64(len(rest)), err
		}
		return total - int64(len(rest)) + n, nil
	}
	b.held = append(b.held, rest...)
	if b.drained == nil {
		b.drained = make(chan struct{})
	}
	start := !b.draining
	b.draining = true
	b.mu.Unlock()
	if start {
		go s.drain()
	}
	return total, nil
}

// drain hands the held bytes to the endpoint as its send buffer takes
// them, until none are left, the send fails or the socket is released.
func (s *File) drain() {
	b := &s.behind
	for {
		ch := s.S.Watch.Changed()
		b.mu.Lock()
		if !b.heldLocked() {
			s.drainedLocked()
			return
		}
		out := b.held
		b.mu.Unlock()
		n, err := s.S.Send(usermem.BytesIOSequence(out), nil, false)
		b.mu.Lock()
		b.held = b.held[n:]
		if err != nil && err != unix.EAGAIN {
			b.err = err
			s.drainedLocked()
			return
		}
		b.mu.Unlock()
		if err == unix.EAGAIN {
			<-ch
		}
	}
}

// drainedLocked ends the drain: the held bytes went out or never will;
// a released socket's endpoint is released now. Precondition: behind.mu
// is held; it is released.
func (s *File) drainedLocked() {
	b := &s.behind
	b.draining = false
	b.emptyLocked()
	release := b.stopped
	b.mu.Unlock()
	if release {
		s.release()
		return
	}
	s.S.Watch.Notify()
}

// awaitSentBehind waits (up to the send timeout, unless non-blocking)
// until the held bytes went out, for a waited write, and returns the
// error sending them met, once.
func (s *File) awaitSentBehind(c fdesc.Call, f *fdesc.File, nonblock bool) error {
	b := &s.behind
	b.mu.Lock()
	idle := b.err == nil && !b.heldLocked()
	b.mu.Unlock()
	if idle {
		// The common case, without the watch's channel.
		return nil
	}
	_, err := anon.BlockOnUntil(c, f, s.S.Watch, nonblock, s.Timeo.Deadline(true), func() (int64, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := b.err; err != nil {
			b.err = nil
			return 0, err
		}
		if b.heldLocked() {
			return 0, unix.EAGAIN
		}
		return 0, nil
	})
	return err
}

// behindReadiness clears ready's writable events while bytes are held.
func (s *File) behindReadiness(ready uint32) uint32 {
	b := &s.behind
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.heldLocked() {
		ready &^= uint32(waiter.WritableEvents)
	}
	return ready
}

// releaseAfterSent says whether the drain goroutine is to release the
// endpoint once the held bytes went out (Release): as Linux sends a
// closed socket's unsent bytes, the application's close does not drop
// what it was told it wrote.
func (s *File) releaseAfterSent() bool {
	b := &s.behind
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	return b.draining
}
