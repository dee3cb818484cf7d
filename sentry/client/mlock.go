package client

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/mm"
)

// mlock and its kin lock in the client's mm: eager locks fault the range
// in, and RLIMIT_MEMLOCK binds callers without CAP_IPC_LOCK, as Linux.
// Pages are not pinned in the host (the memory file is not mlocked).

func sysMlock(t *task, a [6]uint64) (uint64, unix.Errno) {
	return 0, toErrno(t.mm.MLock(t.gctx, hostarch.Addr(a[0]), a[1], memmap.MLockEager))
}

func sysMlock2(t *task, a [6]uint64) (uint64, unix.Errno) {
	if a[2]&^linux.MLOCK_ONFAULT != 0 {
		return 0, unix.EINVAL
	}
	mode := memmap.MLockEager
	if a[2]&linux.MLOCK_ONFAULT != 0 {
		mode = memmap.MLockLazy
	}
	return 0, toErrno(t.mm.MLock(t.gctx, hostarch.Addr(a[0]), a[1], mode))
}

func sysMunlock(t *task, a [6]uint64) (uint64, unix.Errno) {
	return 0, toErrno(t.mm.MLock(t.gctx, hostarch.Addr(a[0]), a[1], memmap.MLockNone))
}

func sysMlockall(t *task, a [6]uint64) (uint64, unix.Errno) {
	flags := a[0]
	if flags&^(linux.MCL_CURRENT|linux.MCL_FUTURE|linux.MCL_ONFAULT) != 0 ||
		flags&(linux.MCL_CURRENT|linux.MCL_FUTURE) == 0 {
		return 0, unix.EINVAL
	}
	mode := memmap.MLockEager
	if flags&linux.MCL_ONFAULT != 0 {
		mode = memmap.MLockLazy
	}
	return 0, toErrno(t.mm.MLockAll(t.gctx, mm.MLockAllOpts{
		Current: flags&linux.MCL_CURRENT != 0, Future: flags&linux.MCL_FUTURE != 0, Mode: mode}))
}

func sysMunlockall(t *task, a [6]uint64) (uint64, unix.Errno) {
	return 0, toErrno(t.mm.MLockAll(t.gctx, mm.MLockAllOpts{Current: true, Future: true, Mode: memmap.MLockNone}))
}

// smapsLockedSize returns the size of an smaps entry's vma if it is
// locked (its VmFlags have "lo": VM_LOCKED, which MLOCK_ONFAULT's
// VM_LOCKONFAULT comes with), else 0.
func smapsLockedSize(smaps string) uint64 {
	var size uint64
	locked := false
	for _, line := range strings.Split(smaps, "\n") {
		if rest, ok := strings.CutPrefix(line, "Size:"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb); err == nil {
				size = kb * 1024
			}
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			for _, f := range strings.Fields(rest) {
				locked = locked || f == "lo"
			}
		}
	}
	if !locked {
		return 0
	}
	return size
}

// lockedBytes is /proc/<pid>/status's VmLck for m: Linux's locked_vm,
// the size of its locked mappings, resident or not (mlock2's
// MLOCK_ONFAULT locks pages not yet faulted in; smaps' per-mapping
// "Locked:" counts only the resident ones).
func lockedBytes(m *mm.MemoryManager) uint64 {
	var n uint64
	for _, v := range smapsVMAs(m) {
		n += smapsLockedSize(v.Smaps)
	}
	return n
}
