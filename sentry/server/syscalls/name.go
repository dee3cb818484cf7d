package syscalls

import (
	"fmt"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Name is system call sysno's name, for the logs ("syscall_N" if it has
// none).
func Name(sysno int32) string {
	if sysno < 0 {
		return fmt.Sprintf("syscall_%d", sysno)
	}
	return sysabi.Name(uintptr(sysno))
}
