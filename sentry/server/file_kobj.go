package server

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Files backed by gVisor kernel objects (sentry/server/kobj): their I/O
// goes through a usermem.IOSequence over the call's memory
// (fdesc.SeqFile), and their blocking waits on the object's waiter.Queue
// through a kobj.Watch (anon.BlockOn).

// seqIO runs read(v)/write(v) of f, a fdesc.SeqFile, on the buffers iov.
func seqIO(c *syscallCtx, f *file, sf fdesc.SeqFile, write bool, iov []sysabi.Iovec, off int64) (int64, error) {
	if off >= 0 {
		return 0, unix.ESPIPE
	}
	if (write && !f.Writable()) || (!write && !f.Readable()) {
		return 0, unix.EBADF
	}
	seq, err := kobj.Sequence(c.Mem, iov)
	if err != nil {
		return 0, err
	}
	sb, behind := sf.(sendBehindFile)
	var n int64
	switch {
	case write && behind && c.Posted:
		n, err = sb.WritePosted(c, f, seq, 0)
	case write:
		n, err = sf.WriteSeq(c, f, seq)
	default:
		n, err = sf.ReadSeq(c, f, seq)
	}
	if behind && c.Reply != nil {
		c.Reply.SendRoom = sb.SendRoom()
	}
	return n, err
}

// sendBehindFile is a socket that takes posted writes without blocking
// within the room it reports (inet.File: sendbehind.go).
type sendBehindFile interface {
	WritePosted(c fdesc.Call, f *fdesc.File, src usermem.IOSequence, flags int) (int64, error)
	SendRoom() uint64
}
