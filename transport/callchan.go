package transport

import (
	"errors"
	"fmt"
	"sync"

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
// there (its memfd rides with the grant's result), results that carry a
// donated fd travel there, and its end ends every channel. This package
// moves opaque bytes (a marshalled GoferCall one way, a GoferResult the
// other); it does not look into them.

// CallChannelWindow is the packet window of a Calls stream's channel: a
// 64 KiB write fits in one datagram; larger messages go in chunks.
const CallChannelWindow = hopWindow

// CallChannel is the calling end of a call channel (the server's). One
// goroutine uses it at a time; Shutdown may be called concurrently, even
// with Destroy.
type CallChannel struct {
	h hopEndpoint
	// mu orders Shutdown with Destroy (a context's AfterFunc may shut
	// the channel down while its user destroys it); destroyed is set by
	// Destroy. A Call does not take mu.
	mu        sync.Mutex
	destroyed bool
}

// AttachCallChannel connects to the call channel whose window is fd
// (window bytes, as granted); fd stays the caller's to close.
func AttachCallChannel(fd, window int) (*CallChannel, error) {
	if window != CallChannelWindow {
		return nil, fmt.Errorf("call channel: a window of %d bytes, want %d", window, CallChannelWindow)
	}
	ch := &CallChannel{}
	if err := ch.h.ep.Init(flipcall.ClientSide, flipcall.PacketWindowDescriptor{FD: fd, Length: window}); err != nil {
		return nil, fmt.Errorf("call channel: %w", err)
	}
	if err := ch.h.ep.Connect(); err != nil {
		ch.h.ep.Shutdown()
		ch.h.ep.Destroy()
		return nil, fmt.Errorf("call channel: connect: %w", err)
	}
	return ch, nil
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
		ch.h.ep.Shutdown()
		ch.h.ep.Destroy()
		ch.destroyed = true
	}
}

// IsShutdown reports an error of a CallChannel that was shut down.
func IsShutdown(err error) bool {
	var se flipcall.ShutdownError
	return errors.As(err, &se)
}

// NewCallChannel (the gofer's end) makes a call channel on a Calls stream
// accepted on a Unix socket: handle answers each call that comes on it,
// one at a time, on a goroutine of the channel's, until stop (which
// waits for that goroutine) or the peer's Shutdown; done is closed when
// that goroutine has returned. The caller sends fd to the peer with the
// grant and closes it; window is its size.
func (s *FramedStream) NewCallChannel(handle func(req []byte) []byte) (fd, window int, stop func(), done <-chan struct{}, err error) {
	if unixOf(s.conn) == nil {
		return -1, 0, nil, nil, errors.New("call channel: not on a Unix socket")
	}
	var pwa flipcall.PacketWindowAllocator
	if err := pwa.Init(); err != nil {
		return -1, 0, nil, nil, fmt.Errorf("call channel: %w", err)
	}
	pwd, err := pwa.Allocate(CallChannelWindow)
	if err != nil {
		pwa.Destroy()
		return -1, 0, nil, nil, fmt.Errorf("call channel: %w", err)
	}
	ch := &CallChannel{}
	if err := ch.h.ep.Init(flipcall.ServerSide, pwd); err != nil {
		pwa.Destroy()
		return -1, 0, nil, nil, fmt.Errorf("call channel: %w", err)
	}
	// The caller closes the memfd once sent: the mappings keep the
	// window.
	fd = pwa.FD()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer ch.h.ep.Destroy()
		defer ch.h.ep.Shutdown()
		dl, err := ch.h.ep.RecvFirst()
		for err == nil {
			var msg []byte
			if _, _, msg, err = ch.h.recv(dl, hopCall, MaxMessageSize); err != nil {
				return
			}
			dl, err = ch.h.send(hopReply, 0, 0, handle(msg))
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ch.h.ep.Shutdown()
			<-ended
		})
	}
	return fd, CallChannelWindow, stop, ended, nil
}
