package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/signalfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// Signalfd implements signalfd(fd, mask, sizemask) and signalfd4(...,
// flags):
// fd -1 makes a signalfd, an existing signalfd's fd changes its mask.
func Signalfd(c *kernel.Task) (int64, error) {
	fd := ArgInt(c, 0)
	var flags uint32
	if c.Sysno == unix.SYS_SIGNALFD4 {
		flags = uint32(c.Args[3])
	}
	if flags&^(unix.SFD_CLOEXEC|unix.SFD_NONBLOCK) != 0 || c.Args[2] != linux.SignalSetSize {
		return 0, unix.EINVAL
	}
	b, err := c.Mem.CopyIn(c.Args[1], linux.SignalSetSize)
	if err != nil {
		return 0, err
	}
	mask := binary.LittleEndian.Uint64(b) &^ signalfd.Unblockable
	if fd != -1 {
		f, err := c.GetFile(fd)
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		s, ok := f.Impl.(*signalfd.File)
		if !ok {
			return 0, unix.EINVAL
		}
		s.SetMask(mask)
		f.Changed()
		return int64(fd), nil
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	nfd, err := tab.Install(signalfd.New(kernel.SignalfdClient{}, mask, flags), 0, flags&unix.SFD_CLOEXEC != 0, c.CallSeq)
	return int64(nfd), err
}
