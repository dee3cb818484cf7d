package copybehind

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// Copy is one copy of bytes the client read from its lease.
type Copy struct {
	In, Out *fdesc.File
	// Data are the bytes carried.
	Data []byte
	// InOff is where the client read them: -1 for In's offset, which
	// then moves past them; else an explicit offset (sendfile's
	// *offset, copy_file_range's *off_in), which In's does not follow.
	InOff int64
	// Posted says the application was told len(Data) already.
	Posted bool
	// ToPipe says Out is a pipe's write end: a posted copy's failure
	// (EPIPE, its reader gone) is not kept, since the pipe's next
	// write meets it itself, with its SIGPIPE.
	ToPipe bool
}

// Result is what Apply did.
type Result struct {
	// Written are the bytes written; Moved how far the in offset
	// moved (or the explicit one is to move).
	Written, Moved int
	// Kept is the errno Apply newly kept on Out (0: none).
	Kept unix.Errno
}

// Apply writes c.Data with write (at the out offset the call names) and
// moves the in offset, under the rule of the package doc. The error is
// the write's, or, for a posted copy to a description that had failed
// already, that failure's.
func Apply(rec fdesc.OffsetRecorder, c Copy, write func([]byte) (int, error)) (Result, error) {
	var res Result
	var err error
	if kept := unix.Errno(c.Out.WBErr.Load()); c.Posted && kept != 0 {
		err = kept
	} else {
		res.Written, err = write(c.Data)
		res.Written = max(res.Written, 0)
	}
	res.Moved = res.Written
	if c.Posted {
		res.Moved = len(c.Data)
		if err == nil && res.Written < len(c.Data) {
			err = unix.EIO
		}
		if e := syserr.ErrnoOf(err); err != nil && !c.ToPipe && c.Out.WBErr.CompareAndSwap(0, int32(e)) {
			res.Kept = e
		}
	}
	if c.InOff < 0 && res.Moved > 0 {
		c.In.OffMu.Lock()
		c.In.SetOffLocked(rec, c.In.Off+int64(res.Moved))
		c.In.OffMu.Unlock()
	}
	return res, err
}
