package syscalls

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
)

// nofile is the caller's RLIMIT_NOFILE (fdtable.DefaultNofile without an fd
// table).
func nofile(c *kernel.Task) int {
	tab, err := c.FDTable()
	if err != nil {
		return fdtable.DefaultNofile
	}
	return tab.Limit()
}
