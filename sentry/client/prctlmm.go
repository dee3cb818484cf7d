package client

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// prctlMMMapSize is sizeof(struct prctl_mm_map): eleven addresses, the
// auxv pointer, auxv_size and exe_fd.
const prctlMMMapSize = 11*8 + 8 + 4 + 4

// prctlSetMM is prctl(PR_SET_MM), as far as the sandbox serves it. The
// checks are Linux's prctl_set_mm and prctl_set_mm_map in their order:
// arg5, or arg4 with an option that takes none, is EINVAL;
// PR_SET_MM_MAP_SIZE writes the size of struct prctl_mm_map
// (CONFIG_CHECKPOINT_RESTORE); PR_SET_MM_MAP of another size is EINVAL,
// of an unreadable one EFAULT; the one-field options need
// CAP_SYS_RESOURCE (EPERM). What passes these checks is refused with
// EINVAL, as gVisor's prctl refuses it: gVisor's mm keeps no code, data,
// brk or stack boundaries to set (docs/COMPATIBILITY.md).
func prctlSetMM(t *task, a [6]uint64) (uint64, unix.Errno) {
	opt, addr, arg4, arg5 := a[1], a[2], a[3], a[4]
	if arg5 != 0 || (arg4 != 0 && opt != linux.PR_SET_MM_AUXV && opt != linux.PR_SET_MM_MAP && opt != linux.PR_SET_MM_MAP_SIZE) {
		return 0, unix.EINVAL
	}
	switch opt {
	case linux.PR_SET_MM_MAP_SIZE:
		return 0, t.writeUint32(addr, prctlMMMapSize)
	case linux.PR_SET_MM_MAP:
		if arg4 != prctlMMMapSize {
			return 0, unix.EINVAL
		}
		var m [prctlMMMapSize]byte
		if err := t.copyIn(addr, m[:]); err != 0 {
			return 0, unix.EFAULT
		}
		return 0, unix.EINVAL
	}
	if t.c.pipe.effectiveCaps(t.proc.pid, t.creds().euid)&(1<<linux.CAP_SYS_RESOURCE) == 0 {
		return 0, unix.EPERM
	}
	return 0, unix.EINVAL
}
