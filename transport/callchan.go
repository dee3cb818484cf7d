package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/flipcall"
)

// Call channels on the Calls stream (docs/ARCHITECTURE.md, "The
// server-to-gofer hop"): when the server and its gofer share a machine
// (the framed wire on a Unix socket), the server may ask the gofer for a
// call channel, a flipcall packet window as the Session's channels are
// (hop.go), and then send a call on it as one message into the window
// and get its result back the same way: a futex hand-off each way, no
// socket read or write and no network poller on either side. The Calls
// stream stays the control path: the channel is asked for and granted
// there (its memfd rides with the grant's result) and its end ends every
// channel. A result that carries a donated fd comes on the channel too:
// the fd goes ahead of it on the channel's own fd socket (one end of a
// socketpair granted with the memfd), so the call needs neither the
// stream's reader on either side nor a hand-off to a worker or back to
// the caller. This package moves opaque bytes (a marshalled GoferCall one
// way, a GoferResult the other); it does not look into them.

// CallChannelWindow is the packet window of a Calls stream's channel: a
// 64 KiB write fits in one datagram; larger messages go in chunks.
const CallChannelWindow = hopWindow

// CallChannel is the calling end of a call channel (the server's). One
// goroutine uses it at a time; Shutdown may be called concurrently, even
// with Destroy.
type CallChannel struct {
	h hopEndpoint
	// mu orders Shutdown with Destroy (a context's end may shut the
	// channel down while its user destroys it) and with the start and
	// end of a CallAppend; destroyed is set by Destroy. A Call does not
	// take mu.
	mu        sync.Mutex
	destroyed bool
	// callDone is the Done channel of the context of the CallCtx in
	// progress (nil: none); abandoned says its end shut the channel
	// down. watched is the Done channel whose closing is watched
	// (context.AfterFunc, stopped by stopWatch): the last call's, kept
	// for the next call whose context ends with it, since the server's
	// gofer calls share one per second (goferclient.CallDeadlines), some
	// under a value of their own. Protected by mu.
	callDone  <-chan struct{}
	abandoned bool
	watched   <-chan struct{}
	stopWatch func() bool
	// fdSock is the server's end of the channel's fd socket, or -1 if
	// the gofer granted none. Set once by AdoptFDSocket before the first
	// Call; closed by Destroy (under mu).
	fdSock int
	// oob is TakeFD's control buffer (room for four fds: more are
	// truncated, an error). Used by the channel's one user.
	oob [cmsgSpace4FDs]byte
	// req is the request buffer (Request, CallCtx). Used by the
	// channel's one user.
	req []byte
}

// The sizes of control messages on Linux (amd64 and arm64), whose header
// is 16 bytes and alignment 8: unix.CmsgLen(0), unix.CmsgSpace of four
// fds and of one (TestTakeFDAllocs checks them).
const (
	cmsgLen0      = 16
	cmsgSpace4FDs = cmsgLen0 + 16
	cmsgSpace1FD  = cmsgLen0 + 8
)

// AttachCallChannel connects to the call channel whose window is fd
// (window bytes, as granted); fd stays the caller's to close. The connect
// waits for the peer's side to take it: a peer that died after granting
// the channel never does, so abort (when closed) ends the wait with an
// error (the caller closes it when the peer's stream ends or its call is
// over).
func AttachCallChannel(fd, window int, abort <-chan struct{}) (*CallChannel, error) {
	if window != CallChannelWindow {
		return nil, fmt.Errorf("call channel: a window of %d bytes, want %d", window, CallChannelWindow)
	}
	ch := &CallChannel{fdSock: -1}
	if err := ch.h.ep.Init(flipcall.ClientSide, flipcall.PacketWindowDescriptor{FD: fd, Length: window}); err != nil {
		return nil, fmt.Errorf("call channel: %w", err)
	}
	connected := make(chan struct{})
	watched := make(chan bool, 1) // whether the watcher shut the endpoint down
	go func() {
		select {
		case <-abort:
			ch.h.ep.Shutdown() // the only method safe beside Connect
			watched <- true
		case <-connected:
			watched <- false
		}
	}()
	err := ch.h.ep.Connect()
	close(connected)
	if aborted := <-watched; err == nil && aborted {
		err = errors.New("aborted")
	}
	if err != nil {
		ch.h.ep.Shutdown()
		ch.h.ep.Destroy()
		return nil, fmt.Errorf("call channel: connect: %w", err)
	}
	return ch, nil
}

// AdoptFDSocket makes fd (a SOCK_SEQPACKET socket granted with the
// channel) the socket on which donated fds come ahead of their results;
// the channel closes it. Call it before the first Call.
func (ch *CallChannel) AdoptFDSocket(fd int) {
	ch.fdSock = fd
}

// CarriesFDs says whether results with donated fds may come on ch.
func (ch *CallChannel) CarriesFDs() bool { return ch.fdSock >= 0 }

// TakeFD returns the fd that came ahead of the last result (which said it
// carries one). The peer sent it before the result, so it is queued
// already: TakeFD never waits, and an fd missing is the peer breaking the
// protocol (an error: the channel is unusable).
func (ch *CallChannel) TakeFD() (int, error) {
	if ch.fdSock < 0 {
		return -1, errors.New("call channel: a result claims an fd on a channel without an fd socket")
	}
	var b [1]byte
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msg := unix.Msghdr{Iov: &iov, Control: &ch.oob[0]}
	msg.SetIovlen(1)
	msg.SetControllen(len(ch.oob))
	// recvmsg(2) itself: unix.Recvmsg allocates the control messages'
	// slices and the peer's address, a call's worth of garbage per fd.
	_, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(ch.fdSock), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if errno != 0 {
		return -1, fmt.Errorf("call channel: the fd of a result: %w", errno)
	}
	var buf [4]int
	fds, err := appendRights(buf[:0], ch.oob[:msg.Controllen])
	if err != nil {
		err = fmt.Errorf("call channel: the fd of a result: %w", err)
	} else if msg.Flags&unix.MSG_CTRUNC != 0 {
		// As on the stream (fds.go): the fds that fit are closed below;
		// the caller's stream fails with this, so no more are asked for.
		err = fmt.Errorf("call channel: %w", ErrFDsTruncated)
	} else if len(fds) != 1 {
		err = fmt.Errorf("call channel: a result's message carried %d fds, want 1", len(fds))
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, err
	}
	return fds[0], nil
}

// Call sends req and returns the peer's answer (at most max bytes),
// valid until the next Call. An error means the channel is unusable
// (shut down, or the peer broke the protocol).
func (ch *CallChannel) Call(req []byte, max int) ([]byte, error) {
	dl, err := ch.h.send(hopCall, 0, 0, req)
	if err != nil {
		return nil, err
	}
	_, _, msg, err := ch.h.recv(dl, hopReply, max)
	return msg, err
}

// Request returns the channel's request buffer, empty: the caller builds
// the next call's request by appending to it and passes it to CallCtx,
// which keeps it for the call after (so a call allocates none).
func (ch *CallChannel) Request() []byte { return ch.req[:0] }

// CallCtx is Call abandoned if ctx ends first: the channel is then shut
// down (abandoned is true, and err is its shutdown). req is built on
// Request's buffer. The watch on ctx's end is the last call's when ctx
// is the same: no allocation per call.
func (ch *CallChannel) CallCtx(ctx context.Context, req []byte, max int) (res []byte, abandoned bool, err error) {
	if cap(req) <= maxKeptBuffer {
		ch.req = req
	}
	ch.beginCall(ctx)
	res, err = ch.Call(req, max)
	ch.mu.Lock()
	abandoned = ch.abandoned
	ch.callDone, ch.abandoned = nil, false
	ch.mu.Unlock()
	return res, abandoned, err
}

// beginCall makes ctx's end shut the channel down while the call under
// it is in progress.
func (ch *CallChannel) beginCall(ctx context.Context) {
	done := ctx.Done()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.callDone = done
	if done == nil || ch.watched == done {
		return
	}
	if ch.stopWatch != nil {
		// Its callback, if running, finds another call's context.
		ch.stopWatch()
	}
	// Registered after callDone is set: a context that ended already
	// runs ctxEnded now, which finds this call.
	ch.watched = done
	ch.stopWatch = context.AfterFunc(ctx, func() { ch.ctxEnded(done) })
}

// ctxEnded shuts the channel down if a call under a context that ends
// with done is in progress.
func (ch *CallChannel) ctxEnded(done <-chan struct{}) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.watched == done {
		ch.watched, ch.stopWatch = nil, nil
	}
	if ch.callDone == done && !ch.destroyed {
		ch.abandoned = true
		ch.h.ep.Shutdown()
	}
}

// Shutdown makes a Call in progress, and every later one, fail; the
// peer's end returns too. After Destroy it does nothing.
func (ch *CallChannel) Shutdown() {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.destroyed {
		ch.h.ep.Shutdown()
	}
}

// Destroy shuts the channel down and unmaps the window. Precondition: no
// Call is in progress (its caller is back).
func (ch *CallChannel) Destroy() {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.destroyed {
		if ch.stopWatch != nil {
			ch.stopWatch()
			ch.watched, ch.stopWatch = nil, nil
		}
		ch.h.ep.Shutdown()
		ch.h.ep.Destroy()
		ch.destroyed = true
		if ch.fdSock >= 0 {
			unix.Close(ch.fdSock)
			ch.fdSock = -1
		}
	}
}

// sendOneFD sends fd as SCM_RIGHTS with a one-byte message on sock,
// never blocking (EAGAIN when the peer's queue is full) and with EPIPE,
// not a SIGPIPE, when the peer is gone; sendmsg(2) itself, as TakeFD's
// recvmsg, with the control message on the stack.
func sendOneFD(sock, fd int) error {
	b := [1]byte{0}
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	var oob [cmsgSpace1FD]byte
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_RIGHTS
	h.SetLen(cmsgLen0 + 4)
	binary.NativeEndian.PutUint32(oob[cmsgLen0:], uint32(fd))
	msg := unix.Msghdr{Iov: &iov, Control: &oob[0]}
	msg.SetIovlen(1)
	msg.SetControllen(len(oob))
	_, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(sock), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	if errno != 0 {
		return errno
	}
	return nil
}

// IsShutdown reports an error of a CallChannel that was shut down.
func IsShutdown(err error) bool {
	var se flipcall.ShutdownError
	return errors.As(err, &se)
}

// NewCallChannel (the gofer's end) makes a call channel on a Calls stream
// accepted on a Unix socket: handle answers each call that comes on it,
// one at a time, on a goroutine of the channel's, until stop (which waits
// for that goroutine) or the peer's Shutdown; done is closed when that
// goroutine has returned. handle may donate one fd with its answer by
// calling donate (before returning; the fd stays handle's to close): it
// goes ahead of the answer on the channel's fd socket. The caller sends
// fds (the window's memfd, then the peer's end of the fd socket) to the
// peer with the grant and closes them; window is the window's size.
func (s *FramedStream) NewCallChannel(handle func(req []byte, donate func(fd int) error) []byte) (fds []int, window int, stop func(), done <-chan struct{}, err error) {
	if unixOf(s.conn) == nil {
		return nil, 0, nil, nil, errors.New("call channel: not on a Unix socket")
	}
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, nil, nil, fmt.Errorf("call channel: fd socket: %w", err)
	}
	mine, theirs := socks[0], socks[1]
	var pwa flipcall.PacketWindowAllocator
	if err := pwa.Init(); err != nil {
		unix.Close(mine)
		unix.Close(theirs)
		return nil, 0, nil, nil, fmt.Errorf("call channel: %w", err)
	}
	pwd, err := pwa.Allocate(CallChannelWindow)
	if err != nil {
		pwa.Destroy()
		unix.Close(mine)
		unix.Close(theirs)
		return nil, 0, nil, nil, fmt.Errorf("call channel: %w", err)
	}
	ch := &CallChannel{}
	if err := ch.h.ep.Init(flipcall.ServerSide, pwd); err != nil {
		pwa.Destroy()
		unix.Close(mine)
		unix.Close(theirs)
		return nil, 0, nil, nil, fmt.Errorf("call channel: %w", err)
	}
	// Never blocks: a peer that does not take its fds gets none more
	// (the answer then says none came), rather than stalling the
	// channel's goroutine and the stream's end that waits for it; a peer
	// gone is EPIPE, not a SIGPIPE.
	donate := func(fd int) error { return sendOneFD(mine, fd) }
	// The caller closes the memfd once sent: the mappings keep the
	// window.
	ended := make(chan struct{})
	// stop's Shutdown wakes the goroutine, which must not unmap the
	// window (Destroy) while that Shutdown still writes to it: both
	// under shutMu, and none after the Destroy.
	var shutMu sync.Mutex
	destroyed := false
	go func() {
		defer close(ended)
		defer unix.Close(mine)
		defer func() {
			shutMu.Lock()
			defer shutMu.Unlock()
			ch.h.ep.Shutdown()
			ch.h.ep.Destroy()
			destroyed = true
		}()
		dl, err := ch.h.ep.RecvFirst()
		for err == nil {
			var msg []byte
			if _, _, msg, err = ch.h.recv(dl, hopCall, MaxMessageSize); err != nil {
				return
			}
			dl, err = ch.h.send(hopReply, 0, 0, handle(msg, donate))
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			shutMu.Lock()
			if !destroyed {
				ch.h.ep.Shutdown()
			}
			shutMu.Unlock()
			<-ended
		})
	}
	return []int{pwa.FD(), theirs}, CallChannelWindow, stop, ended, nil
}
