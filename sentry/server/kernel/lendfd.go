package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// LendFD lends a host fd of the regular file thread tid's fd lf.Fd
// reads (sentrypb.LendFD), if mayLend (the stream carries fds to a peer
// that may hold them: the server's mayLendNow) and the description is
// lf.File, open for reading alone, of a gofer file whose handle has a
// read-only donated fd (vfs.LendReadFD). The client reads through it
// only while it holds the file's read lease, which the server revokes
// before any change to the file returns, as it does for the lease's
// bytes; the fd itself is no more than the description already lets the
// client read.
func (k *Kernel) LendFD(tid int32, lf *sentrypb.LendFD, mayLend bool) (*donated.FD, error) {
	if lf == nil || lf.File == 0 {
		return nil, unix.EINVAL
	}
	if !mayLend {
		return nil, unix.EOPNOTSUPP
	}
	k.Mu.Lock()
	t := k.Threads[tid]
	var fds *fdtable.Table
	if t != nil {
		fds = t.Proc.FDs
	}
	k.Mu.Unlock()
	if fds == nil {
		return nil, unix.ESRCH
	}
	f, _, err := fds.Get(lf.Fd)
	if err != nil {
		return nil, err
	}
	defer f.DecRef()
	if f.ID.Load() != lf.File {
		return nil, unix.EBADF // another description than the client's
	}
	d := vfs.DentryOf(f)
	h, ok := vfs.HandleOfFile(f)
	if !ok || d == nil || !d.IsRegular() || f.Flags.Load()&unix.O_ACCMODE != unix.O_RDONLY {
		return nil, unix.EINVAL
	}
	fd := k.VFS.LendReadFD(h)
	if fd == nil {
		return nil, unix.EOPNOTSUPP
	}
	return fd, nil
}
