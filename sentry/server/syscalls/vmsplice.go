package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Vmsplice implements vmsplice(2) as Linux's fs/splice.c, with copies:
// the application's pages are not lent to the pipe (SPLICE_F_GIFT is a
// hint Linux may ignore too), so a caller that changes its buffer after
// the call does not change the bytes in the pipe, as Linux does only for
// gifted pages.
//
// A description open for writing moves the iovecs' bytes into its pipe
// (vmsplice_to_pipe): it waits for room once, unless SPLICE_F_NONBLOCK
// (EAGAIN; the description's O_NONBLOCK is not looked at), then moves
// what fits. A description open only for reading moves the pipe's bytes
// into the iovecs (vmsplice_to_user): it waits for bytes once, then takes
// what there are, up to the iovecs' length; 0 when no writer is left.
// Errors in Linux's order: EINVAL for unknown flags, EBADF for a closed
// fd or one open for neither, EINVAL or EFAULT for the iovec array, 0 for
// no bytes, EBADF for a file that is not a pipe.
//
// The bytes written are in the call's inputs (the iovecs' data, as for
// writev), but the call sets DataNotInCall as splice does: its write
// record carries them, so the client retains them with the pipe.
func Vmsplice(c *kernel.Task) (int64, error) {
	flags := uint32(c.Args[3])
	if flags&^spliceAll != 0 {
		return 0, unix.EINVAL
	}
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	toPipe := f.Writable()
	if !toPipe && !f.Readable() {
		return 0, unix.EBADF
	}
	iov, total, err := Iovecs(c)
	if err != nil {
		return 0, err
	}
	if total == 0 {
		return 0, nil
	}
	end := pipeEndOf(f)
	if end == nil {
		return 0, unix.EBADF
	}
	nonblock := flags&spliceNonblock != 0
	if !toPipe {
		return vmspliceToUser(c, end, iov, total, nonblock)
	}
	space, err := waitPipeSpace(c, end.P, nonblock)
	if err != nil {
		return 0, err
	}
	b := make([]byte, 0, min(total, space))
	for _, v := range iov {
		if len(b) == cap(b) {
			break
		}
		p, err := c.Mem.CopyIn(v.Base, min(int(v.Len), cap(b)-len(b)))
		if err != nil {
			return 0, err
		}
		b = append(b, p...)
	}
	c.DataNotInCall = true
	moved, err := pushPipe(c, end, f, b)
	if err != nil {
		return 0, err
	}
	notePipeRoom(c, f)
	return int64(moved), nil
}

// vmspliceToUser moves up to total bytes of in's pipe into iov. The
// bytes are taken out of the pipe under its lock with their copy into
// the call's outputs, so another reader cannot take them in between.
func vmspliceToUser(c *kernel.Task, in *kernel.PipeEnd, iov []sysabi.Iovec, total int, nonblock bool) (int64, error) {
	ok, err := waitPipeData(c, in.P, nonblock)
	if !ok || err != nil {
		return 0, err
	}
	in.P.Lock()
	defer in.P.Unlock()
	data := in.P.PeekLocked(total)
	n := 0
	for _, v := range iov {
		if n == len(data) {
			break
		}
		m := min(int(v.Len), len(data)-n)
		if err := c.Mem.CopyOut(v.Base, data[n:n+m]); err != nil {
			if n == 0 {
				return 0, err
			}
			break
		}
		n += m
	}
	c.RecordPipeRead(in.P, in.P.ConsumeLocked(n))
	return int64(n), nil
}
