package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
)

// syscallTable is package syscalls' table (syscalls/table.go), which
// dispatch reads.
var syscallTable = syscalls.Table

func init() {
	// ioctl's handler is still here (syscalls_ioctl.go): its entry joins
	// package syscalls' table as it moves there.
	syscallTable[unix.SYS_IOCTL] = sysIoctl
}
