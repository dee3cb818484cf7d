package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// SetUTSName implements sethostname(2) and setdomainname(2): the caller's
// privilege, the length and the name's memory, in Linux's order. The
// names themselves are the client's, which answers uname and /proc's
// copies of them (it takes the name after this reply).
func SetUTSName(c *kernel.Task) (int64, error) {
	if !c.ProcessCreds().Capable(linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	n := int(int32(c.Args[1]))
	if n < 0 || n > linux.UTSLen {
		return 0, unix.EINVAL
	}
	if n > 0 {
		if _, err := c.Mem.CopyIn(c.Args[0], n); err != nil {
			return 0, err
		}
	}
	return 0, nil
}
