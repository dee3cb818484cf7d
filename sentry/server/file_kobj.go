package server

import (
	"golang.org/x/sys/unix"

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
	if write {
		return sf.WriteSeq(c, f, seq)
	}
	return sf.ReadSeq(c, f, seq)
}
