package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// Host fds on the Calls stream: a gofer on the same machine may donate
// the host fd of a file it opened to the server (gofer.proto,
// OpenRequest.donate). The fd rides as SCM_RIGHTS with the first byte of
// the frame of the call's result, which says how many it carries
// (GoferResult.fds); this package only moves them.
//
// On a stream socket the kernel hands a frame's fds to the recvmsg that
// reads the frame's first byte, never a later one, and a reader reads
// frames in order; so the dialling end queues the fds as its reads meet
// them (fdReader), and the frame that claims n takes the first n queued
// (TakeFD). Every fd queued was received before the frame claiming it
// was decoded.

// maxQueuedFDs bounds the fds received and not yet taken: a frame
// carries at most one, and a reader reads at most a buffer ahead, so
// more means a peer sending fds no frame claims.
const maxQueuedFDs = 64

// ErrFDsTruncated fails a stream whose fds the kernel had to drop (more
// in one message than the control buffer holds, or no room in the
// receiver's fd table): which frame they belonged to can no longer be
// told.
var ErrFDsTruncated = errors.New("framed stream: SCM_RIGHTS truncated")

// fdReader reads a Unix socket, queuing the fds that arrive with the
// bytes (received with MSG_CMSG_CLOEXEC, as net.UnixConn does).
type fdReader struct {
	c *net.UnixConn
	// oob is the control buffer of one read; used only by the reading
	// goroutine.
	oob []byte

	// mu protects fds and closed.
	mu sync.Mutex
	// fds are received and not yet taken, in the order they came.
	fds []int
	// closed is set by closeAll: fds arriving later are closed at once.
	closed bool
}

func newFDReader(c *net.UnixConn) *fdReader {
	return &fdReader{c: c, oob: make([]byte, unix.CmsgSpace(4*4))}
}

func (r *fdReader) Read(b []byte) (int, error) {
	n, oobn, flags, _, err := r.c.ReadMsgUnix(b, r.oob)
	if n < 0 {
		n = 0
	}
	if n == 0 && len(b) > 0 && (err == nil || errors.Is(err, io.EOF)) {
		// recvmsg's 0 is the end of the stream: plain io.EOF, as Read
		// says it (readers compare with ==).
		err = io.EOF
	}
	if oobn > 0 {
		if qerr := r.queue(r.oob[:oobn]); qerr != nil && err == nil {
			err = qerr
		}
	}
	if flags&unix.MSG_CTRUNC != 0 && err == nil {
		err = ErrFDsTruncated
	}
	return n, err
}

// queue parses the fds of a control message and queues them.
func (r *fdReader) queue(oob []byte) error {
	var buf [4]int
	fds, err := appendRights(buf[:0], oob)
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return fmt.Errorf("framed stream: control message: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.fds)+len(fds) > maxQueuedFDs {
		for _, fd := range fds {
			unix.Close(fd)
		}
		if r.closed {
			return nil
		}
		return fmt.Errorf("framed stream: more than %d fds received and not claimed", maxQueuedFDs)
	}
	r.fds = append(r.fds, fds...)
	return nil
}

// appendRights appends the fds of the SCM_RIGHTS messages in oob (the
// control bytes of one recvmsg) to fds; other messages are skipped. On a
// malformed message it returns the fds parsed before it with the error
// (they are open: the caller closes them).
func appendRights(fds []int, oob []byte) ([]int, error) {
	for len(oob) > 0 {
		hdr, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return fds, err
		}
		if hdr.Level == unix.SOL_SOCKET && hdr.Type == unix.SCM_RIGHTS {
			for ; len(data) >= 4; data = data[4:] {
				fds = append(fds, int(int32(binary.NativeEndian.Uint32(data))))
			}
		}
		oob = rest
	}
	return fds, nil
}

// take returns the oldest queued fd, or -1 if none.
func (r *fdReader) take() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fds) == 0 {
		return -1
	}
	fd := r.fds[0]
	r.fds = r.fds[1:]
	return fd
}

// closeAll closes the queued fds and those still to come.
func (r *fdReader) closeAll() {
	r.mu.Lock()
	fds := r.fds
	r.fds, r.closed = nil, true
	r.mu.Unlock()
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// CanSendFDs says whether SendMsgFDs can pass fds: the stream is on a
// Unix socket.
func (s *FramedStream) CanSendFDs() bool {
	_, ok := unixConnOf(s.conn)
	return ok
}

// unixConnOf returns the Unix socket under c (an accepted connection is
// wrapped with its peer's identity, authConn).
func unixConnOf(c net.Conn) (*net.UnixConn, bool) {
	if a, ok := c.(*authConn); ok {
		c = a.Conn
	}
	uc, ok := c.(*net.UnixConn)
	return uc, ok
}

// SendMsgFDs sends m (a proto.Message) as one frame with fds attached as
// SCM_RIGHTS to its first byte. The caller keeps its fds (the peer gets
// duplicates). Without fds it is SendMsg.
func (s *FramedStream) SendMsgFDs(m any, fds []int) error {
	if len(fds) == 0 {
		return s.SendMsg(m)
	}
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("framed stream: cannot send %T", m)
	}
	uc, ok := unixConnOf(s.conn)
	if !ok {
		return fmt.Errorf("framed stream: fds on a %T", s.conn)
	}
	return s.w.writeMsgRights(pm, uc, unix.UnixRights(fds...))
}

// TakeFD returns the next fd received on the stream and not yet taken,
// or -1: a reader takes GoferResult.fds of them for each frame, once it
// read that frame. The caller owns the fd. Only a stream that
// DialFramedStream opened on a Unix socket receives fds; on others
// (and on the accepting end) the kernel drops what a peer sends.
func (s *FramedStream) TakeFD() int {
	if s.fds == nil {
		return -1
	}
	return s.fds.take()
}

// writeMsgRights writes m as one frame whose first byte carries oob.
func (fw *frameWriter) writeMsgRights(m proto.Message, uc *net.UnixConn, oob []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	b, err := appendFrame(fw.buf[:0], m, fw.max)
	if err != nil {
		return err
	}
	n, _, err := uc.WriteMsgUnix(b, oob, nil)
	if err == nil && n < len(b) {
		// A partial write: the fds went with the first bytes.
		_, err = uc.Write(b[n:])
	}
	if cap(b) <= maxKeptBuffer {
		fw.buf = b[:0]
	} else {
		fw.buf = nil
	}
	return err
}
