package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"
)

// sendfileChunk bounds one read of sendfile's loop.
const sendfileChunk = 64 << 10

// sysSendfile copies from in_fd to out_fd inside the server. The bytes
// are in no call, so the write records carry them (dataNotInCall) for the
// client to retain. To a regular file it makes one read and one write (a
// call has one write record), of at most spliceChunk bytes: a short
// count, which callers loop on.
func sysSendfile(c *syscallCtx) (int64, error) {
	out, err := c.getFile(c.argInt(0))
	if err != nil {
		return 0, err
	}
	defer out.decRef()
	in, err := c.getFile(c.argInt(1))
	if err != nil {
		return 0, err
	}
	defer in.decRef()
	if !in.readable() || !out.writable() {
		return 0, unix.EBADF
	}
	_, toFile := out.impl.(*goferFile)
	if _, ok := out.impl.(seqFile); !ok && !toFile {
		switch out.impl.(type) {
		case *pipeEnd, *stdioFile:
		default:
			return 0, unix.EINVAL
		}
	}
	if toFile && out.flags.Load()&unix.O_APPEND != 0 {
		return 0, unix.EINVAL
	}
	if in.impl.stream() {
		// Linux reads only from files that can be mapped.
		return 0, unix.EINVAL
	}
	count := int64(c.args[3])
	if count < 0 {
		return 0, unix.EINVAL
	}
	count = min(count, maxRW)
	if toFile {
		count = min(count, spliceChunk)
	}
	offAddr := c.args[2]
	off := int64(-1)
	if offAddr != 0 {
		b, err := c.mem.CopyIn(offAddr, 8)
		if err != nil {
			return 0, err
		}
		if off = int64(binary.LittleEndian.Uint64(b)); off < 0 {
			return 0, unix.EINVAL
		}
	}
	// The bytes written come from in_fd: the write records carry them.
	c.dataNotInCall = true
	var total int64
	for total < count {
		n := int(min(count-total, sendfileChunk))
		if toFile {
			n = int(count)
		}
		at := int64(-1)
		if off >= 0 {
			at = off + total
		}
		b, err := c.readFile(in, n, at)
		if err != nil {
			if total > 0 {
				break
			}
			return 0, err
		}
		if len(b) == 0 {
			break
		}
		w, err := c.sendfileWrite(out, b)
		total += int64(w)
		if w < len(b) && at < 0 && w >= 0 {
			// Put back the input offset past what was not written.
			in.mu.Lock()
			in.setOffLocked(c, in.off-int64(len(b)-w))
			in.mu.Unlock()
		}
		if err != nil {
			if total > 0 {
				break
			}
			return 0, err
		}
		if w < len(b) || len(b) < n || toFile {
			break
		}
	}
	if offAddr != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(off+total))
		if err := c.mem.CopyOut(offAddr, b[:]); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// sendfileWrite writes b to a socket, a pipe or the client's stdio.
func (c *syscallCtx) sendfileWrite(out *file, b []byte) (int, error) {
	if sf, ok := out.impl.(seqFile); ok {
		n, err := sf.writeSeq(c, out, usermem.BytesIOSequence(b))
		return int(n), err
	}
	return c.writeFile(out, b, -1)
}
