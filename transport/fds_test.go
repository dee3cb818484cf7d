package transport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fdStreams returns the two ends of a framed stream on a Unix socket
// pair: out sends (as the gofer's end), in receives fds (as the end
// DialFramedStream opens).
func fdStreams(t *testing.T) (out, in *FramedStream) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	a, b := conn(fds[0]), conn(fds[1])
	r := newFDReader(b)
	out = &FramedStream{conn: a, w: newFrameWriter(a, MaxMessageSize)}
	in = &FramedStream{conn: b, r: &frameReader{r: bufio.NewReaderSize(r, 64<<10), max: MaxMessageSize}, w: newFrameWriter(b, MaxMessageSize), fds: r}
	t.Cleanup(func() { out.Close(); in.Close() })
	return out, in
}

// TestFramesCarryFDs sends frames, some with an fd attached, small and
// large (a large one is written in several parts), faster than they are
// read (so one read meets several frames), and checks that each frame
// that carries an fd gets its own, in order.
func TestFramesCarryFDs(t *testing.T) {
	out, in := fdStreams(t)
	dir := t.TempDir()
	const frames = 200
	carries := func(i int) bool { return i%5 != 4 }
	// Sizes that make frames straddle the reader's 64 KiB buffer, so
	// that a read meets the next frame's fd before the current frame is
	// whole; and some beyond the socket buffer (written in parts).
	payload := func(i int) []byte {
		n := (i*7919)%40000 + 1
		if i%37 == 0 {
			n = 3 << 20
		}
		return bytes.Repeat([]byte{byte(i)}, n)
	}
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < frames; i++ {
			m := wrapperspb.Bytes(payload(i))
			if !carries(i) {
				if err := out.SendMsg(m); err != nil {
					errc <- err
					return
				}
				continue
			}
			// Each fd names a file holding its frame's number.
			p := filepath.Join(dir, fmt.Sprint(i))
			if err := os.WriteFile(p, []byte(fmt.Sprint(i)), 0o600); err != nil {
				errc <- err
				return
			}
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				errc <- err
				return
			}
			err = out.SendMsgFDs(m, []int{fd})
			unix.Close(fd) // the peer has its own
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := 0; i < frames; i++ {
		m := new(wrapperspb.BytesValue)
		if err := in.RecvMsg(m); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Value, payload(i)) {
			t.Fatalf("frame %d: %d bytes, not its payload", i, len(m.Value))
		}
		if !carries(i) {
			continue
		}
		fd := in.TakeFD()
		if fd < 0 {
			t.Fatalf("frame %d: no fd", i)
		}
		b := make([]byte, 16)
		n, err := unix.Pread(fd, b, 0)
		unix.Close(fd)
		if err != nil || string(b[:n]) != fmt.Sprint(i) {
			t.Fatalf("frame %d got the fd of file %q (%v)", i, b[:n], err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if fd := in.TakeFD(); fd >= 0 {
		t.Errorf("an fd left over: %d", fd)
	}
	if !out.CanSendFDs() {
		t.Error("a Unix socket stream says it cannot send fds")
	}
}

// TestUnclaimedFDsBounded: a peer sending fds no frame claims makes the
// stream fail once more than maxQueuedFDs wait, and the fds are closed.
func TestUnclaimedFDsBounded(t *testing.T) {
	out, in := fdStreams(t)
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	go func() {
		for i := 0; i <= maxQueuedFDs+1; i++ {
			if out.SendMsgFDs(wrapperspb.Bytes([]byte("x")), []int{fd}) != nil {
				return
			}
		}
	}()
	// The read that queues one too many fails the stream (at the next
	// frame: the bytes that came with it are delivered first).
	for i := 0; i <= maxQueuedFDs+1 && err == nil; i++ {
		err = in.RecvMsg(new(wrapperspb.BytesValue))
	}
	if err == nil {
		t.Fatalf("%d unclaimed fds accepted", maxQueuedFDs+2)
	}
	in.Close()
	if fd := in.TakeFD(); fd >= 0 {
		t.Errorf("fd %d still queued after Close", fd)
	}
}

// TestTruncatedFDsFailTheStream: fds the kernel drops (more than the
// reader's control buffer holds) fail the stream with ErrFDsTruncated:
// which frame they belonged to can no longer be told.
func TestTruncatedFDsFailTheStream(t *testing.T) {
	out, in := fdStreams(t)
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	go out.SendMsgFDs(wrapperspb.Bytes([]byte("x")), []int{fd, fd, fd, fd, fd, fd, fd, fd})
	for i := 0; i < 2; i++ {
		if err = in.RecvMsg(new(wrapperspb.BytesValue)); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFDsTruncated) {
		t.Errorf("reading a frame whose fds were dropped: %v, want ErrFDsTruncated", err)
	}
}
