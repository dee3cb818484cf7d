package client

import (
	"golang.org/x/sys/unix"
)

// membarrier(2), answered on the client: the application's threads run
// in the client's stub processes, so a barrier on all of them is the
// host's MEMBARRIER_CMD_GLOBAL (every host CPU passes through a
// scheduling point, which is a full barrier and core-serializing on
// x86), whichever command asked for it. The registrations the expedited
// commands need are the process's (Linux: its address space's): kept by
// fork, dropped by exec. The rseq commands are not offered (rseq is
// ENOSYS).

// The commands of membarrier(2) (linux/membarrier.h).
const (
	membarrierQuery               = 0
	membarrierGlobal              = 1 << 0
	membarrierGlobalExpedited     = 1 << 1
	membarrierRegGlobalExpedited  = 1 << 2
	membarrierPrivateExpedited    = 1 << 3
	membarrierRegPrivateExpedited = 1 << 4
	membarrierPrivateSyncCore     = 1 << 5
	membarrierRegPrivateSyncCore  = 1 << 6
	membarrierSupported           = membarrierGlobal | membarrierGlobalExpedited | membarrierRegGlobalExpedited | membarrierPrivateExpedited | membarrierRegPrivateExpedited | membarrierPrivateSyncCore | membarrierRegPrivateSyncCore
	membarrierHostGlobal          = 1 // the host's MEMBARRIER_CMD_GLOBAL
)

// sysMembarrier implements membarrier(2).
func sysMembarrier(t *task, a [6]uint64) (uint64, unix.Errno) {
	cmd, flags := int32(a[0]), a[1]
	if flags != 0 {
		return 0, unix.EINVAL
	}
	p := t.proc
	switch cmd {
	case membarrierQuery:
		return membarrierSupported, 0
	case membarrierRegGlobalExpedited, membarrierRegPrivateExpedited, membarrierRegPrivateSyncCore:
		p.membarrierRegs.Or(uint32(cmd))
		return 0, 0
	case membarrierPrivateExpedited, membarrierPrivateSyncCore:
		// Its registration is the command's bit shifted once.
		if p.membarrierRegs.Load()&uint32(cmd<<1) == 0 {
			return 0, unix.EPERM
		}
	case membarrierGlobal, membarrierGlobalExpedited:
	default:
		return 0, unix.EINVAL
	}
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierHostGlobal, 0, 0); e != 0 {
		t.c.log.Warn("host membarrier failed", "errno", e)
		return 0, unix.ENOSYS
	}
	return 0, 0
}
