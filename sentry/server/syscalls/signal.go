package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// The signal calls: kill, tkill and tgkill, the queued signals with a
// siginfo (rt_sigqueueinfo, rt_tgsigqueueinfo) and rt_sigaction, over
// package kernel's signals. Masks, frames and delivery are the client's.

// Kill implements kill(2).
func Kill(c *kernel.Task) (int64, error) {
	pid, sig := int32(c.Args[0]), int(int32(c.Args[1]))
	if sig < 0 || sig > ksignal.NumSignals {
		return 0, unix.EINVAL
	}
	k := c.Kernel
	var d kernel.Deferred
	k.Mu.Lock()
	self := c.Thread.Proc
	var targets []*kernel.Process
	switch {
	case pid > 0:
		if p := k.Procs[pid]; p != nil {
			targets = append(targets, p)
		}
	case pid == 0:
		targets = k.ProcessGroupLocked(self.PGID)
	case pid == -1:
		for _, p := range k.Procs {
			if p != k.Init && p != self && !p.Exiting {
				targets = append(targets, p)
			}
		}
	case pid == -1<<31:
	default:
		targets = k.ProcessGroupLocked(-pid)
	}
	if len(targets) == 0 {
		k.Mu.Unlock()
		return 0, unix.ESRCH
	}
	// As Linux's kill: success if any target could be signalled, EPERM
	// if none (for sig 0 too).
	info := ksignal.SiginfoKill(sig, ksignal.SIUser, self.PID, self.Creds.RUID)
	allowed := 0
	for _, p := range targets {
		if !mayKillLocked(self, p, sig) {
			continue
		}
		allowed++
		if sig != 0 {
			k.SignalFromAppLocked(p, nil, sig, info, &d)
		}
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	if allowed == 0 {
		return 0, unix.EPERM
	}
	return 0, nil
}

// mayKillLocked says sender may signal target with sig (Linux's
// check_kill_permission): a real or effective uid of the sender is the
// target's real or saved uid, or the sender has CAP_KILL, or sig is
// SIGCONT within one session.
func mayKillLocked(sender, target *kernel.Process, sig int) bool {
	s, tc := sender.Creds, target.Creds
	switch {
	case s.EUID == tc.SUID, s.EUID == tc.RUID, s.RUID == tc.SUID, s.RUID == tc.RUID:
		return true
	case sig == int(unix.SIGCONT) && sender.SID == target.SID:
		return true
	}
	return s.Capable(linux.CAP_KILL)
}

// Tkill implements tkill(2) and tgkill(2).
func Tkill(c *kernel.Task) (int64, error) {
	tgid, tid, sig := int32(-1), int32(c.Args[0]), int(int32(c.Args[1]))
	if c.Sysno == unix.SYS_TGKILL {
		tgid, tid, sig = int32(c.Args[0]), int32(c.Args[1]), int(int32(c.Args[2]))
		if tgid <= 0 {
			return 0, unix.EINVAL
		}
	}
	if tid <= 0 || sig < 0 || sig > ksignal.NumSignals {
		return 0, unix.EINVAL
	}
	k := c.Kernel
	var d kernel.Deferred
	k.Mu.Lock()
	t := k.Threads[tid]
	if t == nil || t.Killed || (tgid > 0 && t.Proc.PID != tgid) {
		k.Mu.Unlock()
		return 0, unix.ESRCH
	}
	self := c.Thread.Proc
	if !mayKillLocked(self, t.Proc, sig) {
		k.Mu.Unlock()
		return 0, unix.EPERM
	}
	if sig != 0 {
		k.SignalFromAppLocked(t.Proc, t, sig, ksignal.SiginfoKill(sig, ksignal.SITkill, self.PID, self.Creds.RUID), &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	return 0, nil
}

// RtSigqueueinfo implements rt_sigqueueinfo(2).
func RtSigqueueinfo(c *kernel.Task) (int64, error) {
	pid, sig := int32(c.Args[0]), int(int32(c.Args[1]))
	if sig < 0 || sig > ksignal.NumSignals {
		return 0, unix.EINVAL
	}
	info, err := copyInSiginfo(c, c.Args[2], sig)
	if err != nil {
		return 0, err
	}
	k := c.Kernel
	var d kernel.Deferred
	k.Mu.Lock()
	p := k.Procs[pid]
	if t := k.Threads[pid]; p == nil && t != nil && !t.Killed {
		p = t.Proc // Linux finds the process by any of its threads' ids
	}
	if p == nil {
		k.Mu.Unlock()
		return 0, unix.ESRCH
	}
	err = queueSiginfoLocked(c, p, nil, sig, info, &d)
	k.Mu.Unlock()
	d.Run(k.Out)
	return 0, err
}

// RtSigaction implements rt_sigaction(2): the dispositions are the
// server's, the client asks for them.
func RtSigaction(c *kernel.Task) (int64, error) {
	sig, act, oact, size := int(int32(c.Args[0])), c.Args[1], c.Args[2], c.Args[3]
	if size != 8 {
		return 0, unix.EINVAL
	}
	if sig < 1 || sig > ksignal.NumSignals {
		return 0, unix.EINVAL
	}
	var na ksignal.Action
	if act != 0 {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			return 0, unix.EINVAL
		}
		b, err := c.Mem.CopyIn(act, ksignal.SizeofSigaction)
		if err != nil {
			return 0, err
		}
		na = ksignal.ParseAction(b)
		// As Linux's do_sigaction: the flags it does not know are
		// cleared, and no mask holds SIGKILL or SIGSTOP.
		na.Flags &= sysabi.SigactionFlags
		na.Mask &^= 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)
	}
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	h := c.Thread.Proc.Sig
	old := h.Act[sig]
	if oact != 0 {
		if err := c.Mem.CopyOut(oact, old.Bytes()); err != nil {
			return 0, err
		}
	}
	if act != 0 {
		h.Act[sig] = na
		k.Trk.Changed(kernel.SigTable{Handlers: h})
	}
	return 0, nil
}

// copyInSiginfo reads the application's siginfo at addr for a queued
// signal, its si_signo set to sig (rt_sigqueueinfo, rt_tgsigqueueinfo).
func copyInSiginfo(c *kernel.Task, addr uint64, sig int) ([]byte, error) {
	info, err := c.Mem.CopyIn(addr, ksignal.SizeofSiginfo)
	if err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(info[0:], uint32(sig))
	return info, nil
}

// RtTgsigqueueinfo queues a signal with the caller's siginfo to one
// thread (the client also routes a CPU-clock timer's SIGEV_THREAD_ID
// signal through it). As Linux, a siginfo that claims to come from a user
// (si_code >= 0, or SI_TKILL) may go only to the calling thread.
func RtTgsigqueueinfo(c *kernel.Task) (int64, error) {
	tgid, tid, sig := int32(c.Args[0]), int32(c.Args[1]), int(int32(c.Args[2]))
	if tgid <= 0 || tid <= 0 || sig < 0 || sig > ksignal.NumSignals {
		return 0, unix.EINVAL
	}
	info, err := copyInSiginfo(c, c.Args[3], sig)
	if err != nil {
		return 0, err
	}
	k := c.Kernel
	var d kernel.Deferred
	k.Mu.Lock()
	t := k.Threads[tid]
	if t == nil || t.Killed || t.Proc.PID != tgid {
		k.Mu.Unlock()
		return 0, unix.ESRCH
	}
	err = queueSiginfoLocked(c, t.Proc, t, sig, info, &d)
	k.Mu.Unlock()
	d.Run(k.Out)
	return 0, err
}

// queueSiginfoLocked queues sig (0: none, only the checks) with the
// caller's siginfo to process p, or to its thread t (nil: any thread), as
// rt_sigqueueinfo and rt_tgsigqueueinfo do. As Linux, a siginfo that
// claims to come from a user (si_code >= 0, or SI_TKILL) may go only to
// the caller itself. Precondition: c.Kernel.Mu is held.
func queueSiginfoLocked(c *kernel.Task, p *kernel.Process, t *kernel.Thread, sig int, info []byte, d *kernel.Deferred) error {
	if !mayKillLocked(c.Thread.Proc, p, sig) {
		return unix.EPERM
	}
	code := int32(binary.LittleEndian.Uint32(info[8:]))
	self := p == c.Thread.Proc
	if t != nil {
		self = t == c.Thread
	}
	if !self && (code >= 0 || code == ksignal.SITkill) {
		return unix.EPERM
	}
	switch {
	case sig == 0:
	case code == kernel.SITimer && p == c.Thread.Proc:
		// The client's CPU-clock timers: as the server's timers, a
		// signal without a handler goes to the client, which holds the
		// mask.
		c.Kernel.TimerSignalLocked(p, t, sig, info, d)
	default:
		c.Kernel.SignalFromAppLocked(p, t, sig, info, d)
	}
	return nil
}
