package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// Pipe2 is pipe(2) and pipe2(2): a new pipe's ends in the caller's fd
// table, their fds written to the caller's array.
func Pipe2(c *kernel.Task) (int64, error) {
	flags := uint32(0)
	if c.Sysno == unix.SYS_PIPE2 {
		flags = uint32(c.Args[1])
	}
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT) != 0 {
		return 0, unix.EINVAL
	}
	if c.Args[0] == 0 {
		return 0, unix.EFAULT
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	if rfd, wfd, ok := pairMadeBefore(c, tab); ok {
		return 0, copyOutFDPair(c, tab, c.Args[0], rfd, wfd, false)
	}
	r, w, err := kernel.NewPipe(c.Kernel.Trk, c.Kernel.Mem)
	if err != nil {
		return 0, err
	}
	if max := c.Kernel.Sysctl.PipeMaxSize(); max < kernel.PipeCapacity && !c.ProcessCreds().Capable(linux.CAP_SYS_RESOURCE) {
		// As Linux: an unprivileged pipe starts no larger than
		// fs/pipe-max-size.
		r.Impl.(*kernel.PipeEnd).P.LimitNewCapacity(max)
	}
	if flags&unix.O_NONBLOCK != 0 {
		r.Flags.Store(r.Flags.Load() | unix.O_NONBLOCK)
		w.Flags.Store(w.Flags.Load() | unix.O_NONBLOCK)
	}
	rfd, wfd, err := tab.InstallPair(r, w, flags&unix.O_CLOEXEC != 0, c.CallSeq)
	if err != nil {
		return 0, err
	}
	return 0, copyOutFDPair(c, tab, c.Args[0], rfd, wfd, true)
}
