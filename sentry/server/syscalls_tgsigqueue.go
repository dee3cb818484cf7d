package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// sysRtTgsigqueueinfo queues a signal with the caller's siginfo to one
// thread (the client also routes a CPU-clock timer's SIGEV_THREAD_ID
// signal through it). As Linux, a siginfo that claims to come from a user
// (si_code >= 0, or SI_TKILL) may go only to the calling thread.
func sysRtTgsigqueueinfo(c *syscallCtx) (int64, error) {
	tgid, tid, sig := int32(c.Args[0]), int32(c.Args[1]), int(int32(c.Args[2]))
	if tgid <= 0 || tid <= 0 || sig < 0 || sig > ksignal.NumSignals {
		return 0, unix.EINVAL
	}
	info, err := copyInSiginfo(c, c.Args[3], sig)
	if err != nil {
		return 0, err
	}
	k := c.Kernel
	var d deferred
	k.Mu.Lock()
	t := k.Threads[tid]
	if t == nil || t.Killed || t.Proc.PID != tgid {
		k.Mu.Unlock()
		return 0, unix.ESRCH
	}
	if !mayKillLocked(c.Thread.Proc, t.Proc, sig) {
		k.Mu.Unlock()
		return 0, unix.EPERM
	}
	code := int32(binary.LittleEndian.Uint32(info[8:]))
	if t != c.Thread && (code >= 0 || code == ksignal.SITkill) {
		k.Mu.Unlock()
		return 0, unix.EPERM
	}
	switch {
	case sig == 0:
	case code == kernel.SITimer && t.Proc == c.Thread.Proc:
		// The client's CPU-clock timers: as the server's timers, a
		// signal without a handler goes to the client, which holds the
		// mask.
		k.TimerSignalLocked(t.Proc, t, sig, info, &d)
	default:
		signalFromAppLocked(k, t.Proc, t, sig, info, &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	return 0, nil
}
