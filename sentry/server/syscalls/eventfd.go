package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/eventfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// Eventfd implements eventfd(initval) and eventfd2(initval, flags).
func Eventfd(c *kernel.Task) (int64, error) {
	var flags uint32
	if c.Sysno == unix.SYS_EVENTFD2 {
		flags = uint32(c.Args[1])
	}
	if flags&^(unix.EFD_CLOEXEC|unix.EFD_NONBLOCK|unix.EFD_SEMAPHORE) != 0 {
		return 0, unix.EINVAL
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, err := eventfd.New(uint64(uint32(c.Args[0])), flags&unix.EFD_SEMAPHORE != 0, flags)
	if err != nil {
		return 0, err
	}
	fd, err := tab.Install(f, 0, flags&unix.EFD_CLOEXEC != 0, c.CallSeq)
	return int64(fd), err
}
