package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/synth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pipe"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// splice, tee and copy_file_range move bytes between files inside the
// server. The bytes a call writes are not in its inputs, so it sets
// dataNotInCall: its write records carry them and the client retains them
// (a pipe's until read, a gofer file's until durable) exactly as a
// write(2)'s.
//
// Known limit: a splice from a pipe copies the bytes, writes them, and
// only then takes what was written out of the pipe; a second reader of
// the same pipe reading meanwhile sees them too.

// Flags of splice and tee (SPLICE_F_*); MOVE, MORE and GIFT are hints.
const (
	spliceMove     = 1
	spliceNonblock = 2
	spliceMore     = 4
	spliceGift     = 8
	spliceAll      = spliceMove | spliceNonblock | spliceMore | spliceGift
)

// spliceChunk bounds the bytes one splice or copy_file_range call moves
// (it returns a short count, as Linux may).
const spliceChunk = 4 << 20

// spliceable reports whether f can be spliced from or to a pipe: a
// regular file, a device, a /proc file, stdio or a socket, as Linux's
// splice_read and splice_write allow (not a directory, eventfd, epoll,
// timerfd or inotify instance: EINVAL).
func spliceable(f *fdesc.File) bool {
	switch f.Impl.(type) {
	case *vfs.GoferFile, *vfs.DevFile, *synth.ProcFile, *kernel.StdioFile, *unixsock.File, *inet.File, *inet.HostFile:
		return true
	}
	return false
}

func pipeEndOf(f *fdesc.File) *kernel.PipeEnd {
	e, _ := f.Impl.(*kernel.PipeEnd)
	return e
}

// offsetArg reads the loff_t at addr (0: none, -1 returned).
func offsetArg(c *kernel.Task, addr uint64) (int64, error) {
	if addr == 0 {
		return -1, nil
	}
	b, err := c.Mem.CopyIn(addr, 8)
	if err != nil {
		return 0, err
	}
	off := int64(binary.LittleEndian.Uint64(b))
	if off < 0 {
		return 0, unix.EINVAL
	}
	return off, nil
}

// putOffset stores off at addr (if not 0).
func putOffset(c *kernel.Task, addr uint64, off int64) error {
	if addr == 0 {
		return nil
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(off))
	return c.Mem.CopyOut(addr, b[:])
}

// waitPipeData waits until p holds bytes (true) or has no writer left
// (false: end of file).
func waitPipeData(c *kernel.Task, p *kernel.Pipe, nonblock bool) (bool, error) {
	for {
		p.Lock()
		if p.LenLocked() > 0 {
			p.Unlock()
			return true, nil
		}
		if p.WritersLocked() == 0 {
			p.Unlock()
			return false, nil
		}
		if nonblock {
			p.Unlock()
			return false, unix.EAGAIN
		}
		ch := p.ChangedLocked()
		p.Unlock()
		if err := c.Block(ch, nil); err != nil {
			return false, err
		}
	}
}

// waitPipeSpace waits until p has room below its size (F_SETPIPE_SZ)
// and returns how much; with no reader it fails with EPIPE and the caller
// gets SIGPIPE.
func waitPipeSpace(c *kernel.Task, p *kernel.Pipe, nonblock bool) (int, error) {
	for {
		p.Lock()
		if p.ReadersLocked() == 0 {
			p.Unlock()
			c.RaisedSIGPIPE = true
			return 0, unix.EPIPE
		}
		if space := p.SpaceLocked(); space > 0 {
			p.Unlock()
			return space, nil
		}
		if nonblock {
			p.Unlock()
			return 0, unix.EAGAIN
		}
		ch := p.ChangedLocked()
		p.Unlock()
		if err := c.Block(ch, nil); err != nil {
			return 0, err
		}
	}
}

// pushPipe is pushPipeLocked under out's pipe's lock; with no reader it
// fails with EPIPE and the caller gets SIGPIPE.
func pushPipe(c *kernel.Task, out *kernel.PipeEnd, outF *fdesc.File, b []byte) (int, error) {
	out.P.Lock()
	defer out.P.Unlock()
	if out.P.ReadersLocked() == 0 {
		c.RaisedSIGPIPE = true
		return 0, unix.EPIPE
	}
	return pushPipeLocked(c, out, outF, b), nil
}

// pushPipeLocked appends up to len(b) bytes to out's pipe as a write
// through outF, as far as there is room, and returns how many. Its
// caller holds out.p's mu.
func pushPipeLocked(c *kernel.Task, out *kernel.PipeEnd, outF *fdesc.File, b []byte) int {
	n, pos := out.P.PushLocked(b, false)
	c.RecordPipeWrite(out.P, outF, pos, b[:n])
	return n
}

func Splice(c *kernel.Task) (int64, error) {
	offInAddr, offOutAddr := c.Args[1], c.Args[3]
	n, flags := c.Args[4], uint32(c.Args[5])
	in, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := c.GetFile(ArgInt(c, 2))
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if flags&^spliceAll != 0 {
		return 0, unix.EINVAL
	}
	if !in.Readable() || !out.Writable() {
		return 0, unix.EBADF
	}
	inPipe, outPipe := pipeEndOf(in), pipeEndOf(out)
	if (inPipe == nil && outPipe == nil) || (inPipe == nil && !spliceable(in)) || (outPipe == nil && !spliceable(out)) {
		return 0, unix.EINVAL
	}
	if (inPipe != nil && offInAddr != 0) || (outPipe != nil && offOutAddr != 0) {
		return 0, unix.ESPIPE
	}
	if (offInAddr != 0 && in.Impl.Stream()) || (offOutAddr != 0 && out.Impl.Stream()) {
		return 0, unix.ESPIPE
	}
	if outPipe == nil && out.Flags.Load()&unix.O_APPEND != 0 {
		return 0, unix.EINVAL
	}
	offIn, err := offsetArg(c, offInAddr)
	if err != nil {
		return 0, err
	}
	offOut, err := offsetArg(c, offOutAddr)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	count := int(min(n, spliceChunk))
	nonblock := flags&spliceNonblock != 0 || in.Nonblock() || out.Nonblock()
	c.DataNotInCall = true
	var moved int
	switch {
	case inPipe != nil && outPipe != nil:
		if inPipe.P == outPipe.P {
			return 0, unix.EINVAL
		}
		moved, err = pipeToPipe(c, inPipe, outPipe, out, count, nonblock, false)
	case outPipe != nil:
		moved, err = fileToPipe(c, in, outPipe, out, offIn, count, nonblock)
		if moved > 0 && offIn >= 0 {
			err = putOffset(c, offInAddr, offIn+int64(moved))
		}
	default:
		moved, err = pipeToFile(c, inPipe, out, offOut, count, nonblock)
		if moved > 0 && offOut >= 0 {
			err = putOffset(c, offOutAddr, offOut+int64(moved))
		}
	}
	if moved > 0 {
		return int64(moved), err
	}
	return 0, err
}

// pipeToPipe moves (tee: copies) up to n bytes from in's pipe to out's.
func pipeToPipe(c *kernel.Task, in, out *kernel.PipeEnd, outF *fdesc.File, n int, nonblock, copyOnly bool) (int, error) {
	for {
		ok, err := waitPipeData(c, in.P, nonblock)
		if !ok || err != nil {
			return 0, err
		}
		if _, err := waitPipeSpace(c, out.P, nonblock); err != nil {
			return 0, err
		}
		pipe.LockTwo(in.P, out.P)
		if out.P.ReadersLocked() == 0 {
			in.P.Unlock()
			out.P.Unlock()
			c.RaisedSIGPIPE = true
			return 0, unix.EPIPE
		}
		moved := pushPipeLocked(c, out, outF, in.P.PeekLocked(n))
		if !copyOnly && moved > 0 {
			in.P.ConsumeLocked(moved)
			c.RecordPipeRead(in.P, moved)
		}
		in.P.Unlock()
		out.P.Unlock()
		if moved > 0 {
			return moved, nil
		}
		// Another thread took the data or filled the space: wait again.
	}
}

// fileToPipe reads up to n bytes of in (at off, or its offset if off < 0)
// into out's pipe.
func fileToPipe(c *kernel.Task, in *fdesc.File, out *kernel.PipeEnd, outF *fdesc.File, off int64, n int, nonblock bool) (int, error) {
	space, err := waitPipeSpace(c, out.P, nonblock)
	if err != nil {
		return 0, err
	}
	n = min(n, space)
	var data []byte
	if sf, ok := in.Impl.(fdesc.SeqFile); ok {
		buf := make([]byte, n)
		got, err := sf.ReadSeq(c, in, usermem.BytesIOSequence(buf))
		if got <= 0 {
			return 0, err
		}
		data = buf[:got]
	} else {
		data, err = readFile(c, in, n, off)
		if len(data) == 0 {
			return 0, err
		}
	}
	moved, err := pushPipe(c, out, outF, data)
	if err != nil {
		return 0, err
	}
	if moved < len(data) && off < 0 && !in.Impl.Stream() {
		// Another writer took the room: put the input offset back past
		// what was not moved (a socket's bytes cannot be put back).
		in.OffMu.Lock()
		in.SetOffLocked(c, in.Off-int64(len(data)-moved))
		in.OffMu.Unlock()
	}
	return moved, nil
}

// pipeToFile writes up to n bytes of in's pipe to out (at off, or its
// offset if off < 0), then takes what was written out of the pipe.
func pipeToFile(c *kernel.Task, in *kernel.PipeEnd, out *fdesc.File, off int64, n int, nonblock bool) (int, error) {
	ok, err := waitPipeData(c, in.P, nonblock)
	if !ok || err != nil {
		return 0, err
	}
	in.P.Lock()
	data := in.P.PeekLocked(n)
	in.P.Unlock()
	var w int
	if sf, ok := out.Impl.(fdesc.SeqFile); ok {
		var w64 int64
		w64, err = sf.WriteSeq(c, out, usermem.BytesIOSequence(data))
		w = int(w64)
	} else {
		w, err = writeFile(c, out, data, off)
	}
	if w > 0 {
		in.P.Lock()
		drop := in.P.ConsumeLocked(w)
		c.RecordPipeRead(in.P, drop)
		in.P.Unlock()
		return w, nil
	}
	return 0, err
}

func Tee(c *kernel.Task) (int64, error) {
	n, flags := c.Args[2], uint32(c.Args[3])
	in, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := c.GetFile(ArgInt(c, 1))
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if flags&^spliceAll != 0 {
		return 0, unix.EINVAL
	}
	if !in.Readable() || !out.Writable() {
		return 0, unix.EBADF
	}
	inPipe, outPipe := pipeEndOf(in), pipeEndOf(out)
	if inPipe == nil || outPipe == nil || inPipe.P == outPipe.P {
		return 0, unix.EINVAL
	}
	if n == 0 {
		return 0, nil
	}
	c.DataNotInCall = true
	nonblock := flags&spliceNonblock != 0 || in.Nonblock() || out.Nonblock()
	moved, err := pipeToPipe(c, inPipe, outPipe, out, int(min(n, spliceChunk)), nonblock, true)
	return int64(moved), err
}

// CopyFileRange copies between regular files through the server: one
// read and one write a call (so that the write is one retained record),
// of at most spliceChunk bytes.
func CopyFileRange(c *kernel.Task) (int64, error) {
	offInAddr, offOutAddr := c.Args[1], c.Args[3]
	n, flags := c.Args[4], c.Args[5]
	in, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := c.GetFile(ArgInt(c, 2))
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if flags != 0 {
		return 0, unix.EINVAL
	}
	if !in.Readable() || !out.Writable() || out.Flags.Load()&unix.O_APPEND != 0 {
		return 0, unix.EBADF
	}
	for _, f := range []*fdesc.File{in, out} {
		if vfs.DentryOf(f) != nil && vfs.DentryOf(f).IsDir() {
			return 0, unix.EISDIR
		}
		if _, ok := f.Impl.(*vfs.GoferFile); !ok {
			return 0, unix.EINVAL
		}
	}
	offIn, err := offsetArg(c, offInAddr)
	if err != nil {
		return 0, err
	}
	offOut, err := offsetArg(c, offOutAddr)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	count := int(min(n, spliceChunk))
	if vfs.DentryOf(in) != nil && vfs.DentryOf(out) != nil && vfs.DentryOf(in).Ino() == vfs.DentryOf(out).Ino() {
		// The same file: Linux refuses overlapping ranges.
		ri, ro := offIn, offOut
		if ri < 0 || ro < 0 {
			in.OffMu.Lock()
			if ri < 0 {
				ri = in.Off
			}
			in.OffMu.Unlock()
			out.OffMu.Lock()
			if ro < 0 {
				ro = out.Off
			}
			out.OffMu.Unlock()
		}
		if ri < ro+int64(count) && ro < ri+int64(count) {
			return 0, unix.EINVAL
		}
	}
	if c.LeasedData != nil {
		return leasedCopy(c, in, out, offIn, offInAddr, offOut, offOutAddr, int64(count))
	}
	data, err := readFile(c, in, count, offIn)
	if len(data) == 0 {
		return 0, err
	}
	c.DataNotInCall = true
	w, err := writeFile(c, out, data, offOut)
	if w < len(data) && offIn < 0 {
		in.OffMu.Lock()
		in.SetOffLocked(c, in.Off-int64(len(data)-max(w, 0)))
		in.OffMu.Unlock()
	}
	if w <= 0 {
		return 0, err
	}
	if offIn >= 0 {
		if err := putOffset(c, offInAddr, offIn+int64(w)); err != nil {
			return int64(w), nil
		}
	}
	if offOut >= 0 {
		if err := putOffset(c, offOutAddr, offOut+int64(w)); err != nil {
			return int64(w), nil
		}
	}
	return int64(w), nil
}
