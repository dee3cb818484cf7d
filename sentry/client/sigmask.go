package client

import (
	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Calls that wait with a signal mask of their own (pselect6, ppoll,
// epoll_pwait): the mask lives on the client, so the client installs it
// for the duration of the forwarded wait. A signal it unblocks then
// interrupts the wait (queueSignalPush sends Interrupt) and its handler
// runs with the mask saved before the call, which rt_sigreturn restores,
// as Linux's TIF_RESTORE_SIGMASK does.

// callSigmask returns the mask a forwarded call installs while it waits:
// has is false when the call has none (or passes a null mask).
func (t *task) callSigmask(sysno uintptr, args [6]uint64) (mask linux.SignalSet, has bool, errno unix.Errno) {
	var addr, size uint64
	switch sysno {
	case unix.SYS_PSELECT6:
		// The sixth argument points to {const sigset_t *ss; size_t ss_len}.
		if args[5] == 0 {
			return 0, false, 0
		}
		var b [16]byte
		if err := t.copyIn(args[5], b[:]); err != 0 {
			return 0, false, err
		}
		addr, size = le64(b[:8]), le64(b[8:])
	case unix.SYS_PPOLL:
		addr, size = args[3], args[4]
	case unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2:
		addr, size = args[4], args[5]
	default:
		return 0, false, 0
	}
	if addr == 0 {
		return 0, false, 0
	}
	if size != linux.SignalSetSize {
		return 0, false, unix.EINVAL
	}
	v, err := t.readUint64(addr)
	if err != 0 {
		return 0, false, err
	}
	return linux.SignalSet(v), true, 0
}

// forwardWithSigmask forwards a call that waits with its own signal mask.
func (t *task) forwardWithSigmask(sysno uintptr, args [6]uint64) (uint64, unix.Errno) {
	mask, has, errno := t.callSigmask(sysno, args)
	if errno != 0 {
		return 0, errno
	}
	if !has {
		return t.forward(sysno, args)
	}
	t.mu.Lock()
	old := t.mask
	t.setMaskLocked(mask)
	if t.deliverableLocked() {
		// A pending signal the call's mask unblocks interrupts it before
		// it waits.
		t.savedMask, t.haveSavedMask = old, true
		t.mu.Unlock()
		return 0, errRestartNoHand
	}
	t.mu.Unlock()
	ret, errno := t.forward(sysno, args)
	t.mu.Lock()
	defer t.mu.Unlock()
	if isRestartErrno(errno) && t.deliverableLocked() {
		// The handler's frame saves the mask from before the call; the
		// handler runs with the call's mask (Linux's sigmask_to_save).
		// The call ends with EINTR, not restarted.
		t.savedMask, t.haveSavedMask = old, true
		return 0, errRestartNoHand
	}
	t.mask = old
	return ret, errno
}
