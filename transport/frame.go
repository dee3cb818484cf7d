package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// The framed wire: a same-machine alternative to gRPC for the Session
// stream, carrying the same ClientMessage and ServerMessage protobufs.
//
// A connection starts with frameMagic from the client, answered by
// frameMagic from the server; then each side sends frames: a 4-byte
// big-endian payload length (at most MaxMessageSize) and the payload, one
// marshalled ClientMessage (client to server) or ServerMessage (server to
// client). There is no flow control, no multiplexing of streams and no
// compression: one connection is one Session, and the Unix socket's
// buffer is the window.
//
// A gRPC server answers frameMagic with HTTP/2 bytes (its SETTINGS frame)
// and closes the connection; a client seeing anything but frameMagic
// falls back to gRPC (see Dial).

// frameMagic starts a framed connection in both directions. It cannot be
// the start of HTTP/2's client preface ("PRI * HTTP/2.0...").
const frameMagic = "rdframe1"

// frameHeaderLen is the size of a frame's length prefix.
const frameHeaderLen = 4

// Frame errors. A connection that produced one is unusable.
var (
	errFrameTooLarge = errors.New("frame larger than the maximum message size")
	errNotFramed     = errors.New("peer does not speak the framed wire")
)

// maxKeptBuffer bounds the frame buffers a reader or writer keeps between
// frames: a larger frame (a file page run, an exec image) gets a buffer
// of its own that is dropped afterwards.
const maxKeptBuffer = 1 << 20

// frameReader reads frames from a connection. It is used by one goroutine
// at a time.
type frameReader struct {
	r *bufio.Reader
	// max is the largest payload accepted.
	max int
	// buf holds the last payload read; reused.
	buf []byte
	// dialled says the reader reads the end it dialled (a client its
	// server, a server its gofer), which it trusts with what it
	// announces: a large frame's buffer is made at its length at once,
	// not grown as its bytes arrive (a 4 MiB PageRead reply regrew 1 →
	// 2 → 4 MiB). Immutable.
	dialled bool
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next frame's payload. It is valid until the next call.
// A stream that ends between frames gives io.EOF; one that ends inside a
// frame gives io.ErrUnexpectedEOF.
func (fr *frameReader) next() ([]byte, error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(fr.r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if uint64(n) > uint64(fr.max) {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", errFrameTooLarge, n, fr.max)
	}
	var b []byte
	var err error
	switch {
	case int(n) <= cap(fr.buf):
		b = fr.buf[:n]
		_, err = io.ReadFull(fr.r, b)
	case n <= maxKeptBuffer:
		b = make([]byte, n)
		fr.buf = b
		_, err = io.ReadFull(fr.r, b)
	case fr.dialled:
		b = make([]byte, n)
		_, err = io.ReadFull(fr.r, b)
	default:
		// A large frame's buffer grows with the bytes that arrived, not
		// with the length its header declares: a peer that announces
		// 64 MiB and sends nothing pins nothing (a server's reader of
		// its clients, a gofer's of its servers).
		b, err = readGrowing(fr.r, int(n))
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("frame of %d bytes: %w", n, err)
	}
	return b, nil
}

// readGrowing reads exactly n bytes from r into a buffer that at most
// doubles what has arrived so far.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, maxKeptBuffer)
	for len(b) < n {
		if len(b) == cap(b) {
			b = append(b, make([]byte, min(cap(b), n-len(b)))...)[:len(b)]
		}
		m, err := r.Read(b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			if len(b) < n {
				return nil, err
			}
		}
	}
	return b, nil
}

// readMsg reads the next frame into m. proto.Unmarshal copies what it
// keeps, so the frame buffer can be reused.
func (fr *frameReader) readMsg(m proto.Message) error {
	b, err := fr.next()
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("frame of %d bytes: %w", len(b), err)
	}
	return nil
}

// readClientMessage reads the next frame into cm, decoding its posted
// system calls by hand (calldecode.go). A frame some Region.data of cm
// aliases is cm's from then on: the reader drops the buffer and reads
// the next frame into a new one.
func (fr *frameReader) readClientMessage(cm *pb.ClientMessage) error {
	b, err := fr.next()
	if err != nil {
		return err
	}
	aliased, err := decodeClientMessage(b, cm)
	if err != nil {
		return fmt.Errorf("frame of %d bytes: %w", len(b), err)
	}
	if aliased && cap(fr.buf) > 0 && &fr.buf[:1][0] == &b[:1][0] {
		fr.buf = nil
	}
	return nil
}

// frameWriter writes frames to a connection; it is safe for concurrent
// use (mu serializes frames).
type frameWriter struct {
	w   io.Writer
	max int

	mu sync.Mutex
	// buf is the frame being written. Protected by mu.
	buf []byte
}

func newFrameWriter(w io.Writer, max int) *frameWriter {
	return &frameWriter{w: w, max: max}
}

// appendFrame appends m as one frame to b.
func appendFrame(b []byte, m proto.Message, max int) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	var err error
	if cm, ok := m.(*pb.ClientMessage); ok && len(cm.PostedCalls) > 0 {
		// A frame of posted calls (callencode.go).
		b, err = appendClientMessage(b, cm)
	} else {
		b, err = proto.MarshalOptions{}.MarshalAppend(b, m)
	}
	if err != nil {
		return b[:start], fmt.Errorf("marshal %T: %w: %w", m, ErrUnencodable, err)
	}
	n := len(b) - start - frameHeaderLen
	if n > max {
		return b[:start], fmt.Errorf("%w: %T of %d bytes (max %d)", errFrameTooLarge, m, n, max)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// writeMsg writes m as one frame, with one write system call.
func (fw *frameWriter) writeMsg(m proto.Message) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	b, err := appendFrame(fw.buf[:0], m, fw.max)
	if err != nil {
		return err
	}
	_, err = fw.w.Write(b)
	if cap(b) <= maxKeptBuffer {
		fw.buf = b[:0]
	} else {
		fw.buf = nil
	}
	return err
}
