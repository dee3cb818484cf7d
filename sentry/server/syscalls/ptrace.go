package syscalls

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ptrace"
)

// The ptrace system call (package kernel's ptrace.go holds the
// relations, the stops and what wait sees of them; package ptrace the
// rules).

// Ptrace implements ptrace(2): it serves the requests that change the
// relation or end a stop; the client serves the ones that read or write
// the stopped tracee's registers and memory, so those never reach the
// server (EIO if they do).
func Ptrace(c *kernel.Task) (int64, error) {
	req, tid := int64(c.Args[0]), int32(c.Args[1])
	k := c.Kernel
	var d kernel.Deferred
	k.Mu.Lock()
	defer func() {
		k.Mu.Unlock()
		d.Run(k.Out)
	}()
	t := c.Thread
	if t.Killed {
		return 0, unix.ESRCH
	}
	switch req {
	case linux.PTRACE_TRACEME:
		par := t.Proc.Parent
		if t.Ptrace != nil || par == nil || par.Exiting {
			return 0, unix.EPERM
		}
		tracer := par.AnyLiveThread()
		if tracer == nil {
			return 0, unix.EPERM
		}
		k.PtraceLinkLocked(tracer, t, 0, false, &d)
		return 0, nil
	case linux.PTRACE_ATTACH, linux.PTRACE_SEIZE:
		entered, err := k.PtraceAttachLocked(t, tid, req == linux.PTRACE_SEIZE, c.Args[2], c.Args[3], &d)
		if err != nil || entered == nil {
			return 0, err
		}
		// A tracee in a group stop enters a ptrace-stop at once; as
		// Linux's ptrace_attach, wait for it, so that the tracer's
		// next request finds it stopped. Bounded: the attach is done
		// whatever happens to the tracee.
		k.Mu.Unlock()
		d.Run(k.Out)
		_ = c.Block(entered, time.After(ptraceAttachWait))
		k.Mu.Lock()
		return 0, nil
	}
	tt := k.Threads[tid]
	if c.Resent() && tt != nil && (tt.Ptrace != nil && tt.Ptrace.Tracer == t && tt.Ptrace.ResumedBy(c.CallSeq) ||
		req == linux.PTRACE_DETACH && tt.Ptrace == nil && tt.PtraceDetachSeq == c.CallSeq) {
		// This call ended a stop (or the relation) before the server
		// it went to died; the record of that came back, so it is done.
		return 0, nil
	}
	if tt == nil || tt.Killed || tt.Ptrace == nil || tt.Ptrace.Tracer != t {
		return 0, unix.ESRCH
	}
	tr := tt.Ptrace
	switch req {
	case linux.PTRACE_KILL:
		if !tt.Proc.Exiting {
			k.ExitProcessLocked(tt.Proc, ksignal.WaitStatus(int(unix.SIGKILL)), &d)
		}
		return 0, nil
	case linux.PTRACE_INTERRUPT:
		if !tr.Seized {
			return 0, unix.EIO
		}
		if !tr.Stopped {
			d.Push(kernel.PtraceUpdatePush(tt, true))
		}
		return 0, nil
	}
	if !tr.Stopped {
		return 0, unix.ESRCH
	}
	switch req {
	case linux.PTRACE_SETOPTIONS:
		opts := uint32(c.Args[3])
		if opts&^ptrace.OptionsMask != 0 {
			return 0, unix.EINVAL
		}
		tr.Options = opts
		k.Trk.Changed(tt)
		d.Push(kernel.PtraceUpdatePush(tt, false))
		return 0, nil
	case linux.PTRACE_LISTEN:
		// Only from a seized tracee's group-stop trap.
		if !tr.CanListen(func(sig int) bool { return ksignal.DefaultActionOf(sig) == ksignal.ActStop }) {
			return 0, unix.EIO
		}
		k.PtraceResumeLocked(tt, linux.PTRACE_LISTEN, 0, c.CallSeq)
		return 0, nil
	case linux.PTRACE_CONT, linux.PTRACE_SYSCALL, linux.PTRACE_SINGLESTEP, linux.PTRACE_DETACH:
		sig := int32(c.Args[3])
		if sig < 0 || sig > ksignal.NumSignals {
			return 0, unix.EIO
		}
		k.PtraceResumeLocked(tt, int32(req), sig, c.CallSeq)
		if req == linux.PTRACE_DETACH {
			k.PtraceUnlinkLocked(tt, &d)
			tt.PtraceDetachSeq = c.CallSeq
		}
		return 0, nil
	}
	// PTRACE_SYSEMU and anything unknown
	// (docs/COMPATIBILITY.md); the register and memory requests are the
	// client's.
	return 0, unix.EIO
}

// ptraceAttachWait bounds how long PTRACE_ATTACH waits for a tracee in a
// group stop to enter its ptrace-stop.
const ptraceAttachWait = 2 * time.Second
