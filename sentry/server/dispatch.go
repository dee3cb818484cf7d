package server

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// handler executes one system call and returns its result or an error
// carrying the errno.
type handler = syscalls.Handler

// panicOnBug makes dispatch re-panic instead of answering EIO (tests).
var panicOnBug = false

// dispatch executes one forwarded system call of thread t in c (its
// thread's spare Task or a new one: dispatch sets all of it); run is the
// run of posted attribute calls it is part of (nil: none). The reply is
// c's ReplyMsg.
func dispatch(k *kernel.Kernel, t *kernel.Thread, seq uint64, sc *sentrypb.Syscall, intr chan struct{}, run *attrRun, c *kernel.Task) *sentrypb.Reply {
	*c = kernel.Task{Kernel: k, Thread: t, CallSeq: seq, Sysno: sc.Sysno, Intr: intr, Dead: t.Dead, NoNewPrivs: sc.NoNewPrivs, AttrRun: run, Ahead: &t.Ahead,
		LeasedData: sc.LeasedData, Posted: sc.Posted, InstallFD: sc.InstallFd, CloseFile: sc.CloseFile, OwnedWrite: sc.OwnedWrite, WriteParts: sc.WriteParts.GetLengths(),
		PipeAheadWanted: sc.PipeAheadWanted, PipeConsumed: sc.PipeConsumed}
	// The reply is made with the context (TestChannelCallCost).
	r := &c.ReplyMsg
	r.Seq = seq
	c.Reply = r
	// The handles the call pinned (Task.HandleOf) stay pinned until the
	// reply is made: the path lease and read lease taken after the
	// handler stat the dentries they name.
	defer c.UnpinAll()
	copy(c.Args[:], sc.Args)
	inputs := c.InputRoom[:0]
	if len(sc.Inputs) > len(c.InputRoom) {
		inputs = make([]sysabi.Region, 0, len(sc.Inputs))
	}
	for _, in := range sc.Inputs {
		if in != nil {
			inputs = append(inputs, sysabi.Region{Addr: in.Addr, Data: in.Data})
		}
	}
	c.Memory = sysabi.MakeMemory(inputs)
	c.Mem = &c.Memory
	if sc.CallGen != 0 {
		t.SigWait.Update(sc.CallGen, sc.PendingSignals)
	}
	// began times the call for --strace (took=): the server's own share
	// of what the client's --strace says the call waited.
	var began time.Time
	if k.StraceOn {
		began = time.Now()
	}
	h := syscalls.Table[sc.Sysno]
	if h == nil {
		if _, logged := k.Unsupported.LoadOrStore(sc.Sysno, struct{}{}); !logged {
			k.Log.Warn("unsupported system call", "sysno", sc.Sysno, "name", syscalls.Name(sc.Sysno))
		}
		r.Errno = int32(unix.ENOSYS)
		strace(k, c, 0, unix.ENOSYS, began)
		return r
	}
	if sc.Sysno == unix.SYS_GETDENTS64 {
		c.AheadWanted, c.AheadNames, c.AheadSiblings = int(min(sc.ListingAhead, maxAheadDirs)), sentrypb.StringList(sc.AheadNames), sentrypb.StringList(sc.AheadSiblings)
		if sc.Posted {
			c.AheadCookie = sc.AheadCookie
		}
	}
	if fd, ok := syscalls.FDMadeBefore(c); ok {
		// Re-sent, it answers the fd its first run made: no second one.
		k.Log.Debug("a re-sent call answered the fd its first run made", "name", syscalls.Name(sc.Sysno), "seq", seq, "fd", fd)
		r.Ret = fd
		strace(k, c, fd, 0, began)
		return r
	}
	pl := beginPathLease(k, c, sc.PathLeaseWanted, string(sc.ListingPath))
	ret, skipped, err := runReportingDeferred(k, h, c, sc.Posted)
	endPathLease(k, c, pl, skipped, err, sc.DirListingWanted)
	if c.Eff != nil {
		k.Trk.SetEffects(seq, c.Eff)
	}
	if skipped {
		strace(k, c, ret, syserr.ErrnoOf(err), began)
		r.Errno = int32(syserr.ErrnoOf(err))
		return r
	}
	if c.RaisedSIGPIPE {
		k.Mu.Lock()
		var d kernel.Deferred
		if !t.Killed {
			sigpipeLocked(k, t, &d)
		}
		k.Mu.Unlock()
		d.Run(k.Out)
	}
	if err != nil {
		e := syserr.ErrnoOf(err)
		if e == syserr.UnknownErrno && !syserr.IsErrno(err) {
			k.Log.Warn("system call failed", "name", syscalls.Name(sc.Sysno), "err", err)
		}
		r.Errno = int32(e)
		r.Ret = 0
		if syserr.KeepsOutputs(err) {
			for _, o := range c.Mem.Outputs() {
				r.Outputs = append(r.Outputs, &sentrypb.Region{Addr: o.Addr, Data: o.Data})
			}
		}
		if _, isExit := r.Action.(*sentrypb.Reply_Exit); !isExit {
			r.Action = nil
		}
	} else {
		r.Ret = ret
		if sc.LeaseWanted {
			grantReadLease(k, c, ret, sc.OpenDataWanted)
			grantLeasesAhead(k, c, sentrypb.StringList(sc.AheadNames))
			grantIdleLease(k, c, ret)
		}
		if sc.OwnedWanted {
			grantOwnedLease(k, c, ret)
		}
		if sc.ProcDataWanted {
			grantProcData(k, c, int32(ret))
		}
		for _, o := range c.Mem.Outputs() {
			r.Outputs = append(r.Outputs, &sentrypb.Region{Addr: o.Addr, Data: o.Data})
		}
	}
	strace(k, c, ret, syserr.ErrnoOf(err), began)
	return r
}

func runHandler(k *kernel.Kernel, h handler, c *kernel.Task) (ret int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			if panicOnBug {
				panic(p)
			}
			k.Log.Error("BUG: system call handler panicked", "name", syscalls.Name(c.Sysno), "panic", p, "stack", string(debug.Stack()))
			ret, err = 0, fmt.Errorf("handler panic: %v: %w", p, unix.EIO)
		}
	}()
	return h(c)
}

// strace logs the call c ran (server --strace): its arguments, result,
// whether it was posted, and how long it took since began, path leases
// and the listing its reply carries included (not the reply's encoding
// nor the time it queued behind the thread's earlier calls).
func strace(k *kernel.Kernel, c *kernel.Task, ret int64, errno unix.Errno, began time.Time) {
	if !k.StraceOn {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s(", syscalls.Name(c.Sysno))
	for i, a := range c.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%#x", a)
	}
	b.WriteString(")")
	tid := c.TID()
	took := time.Since(began)
	if errno != 0 {
		k.Log.Info("strace", "tid", tid, "seq", c.CallSeq, "call", b.String(), "errno", errno.Error(), "posted", c.Posted, "took", took)
	} else {
		k.Log.Info("strace", "tid", tid, "seq", c.CallSeq, "call", b.String(), "ret", ret, "posted", c.Posted, "took", took)
	}
}

// sigpipeLocked sends SIGPIPE to thread t, whose write found no reader.
// Without a handler it still goes to t on its client, which holds the
// mask, as a timer's signal does: blocked, it stays pending there (Linux
// queues it; sigtimedwait takes it, an unblock kills); unblocked, the
// client sends it back to take its default action before t runs on.
// Otherwise (a handler, ignored, the first process, a signalfd reading
// it, a tracer, a stopped process) it is routed as kill routes it.
// Precondition: k.Mu held.
func sigpipeLocked(k *kernel.Kernel, t *kernel.Thread, d *kernel.Deferred) {
	p, sig := t.Proc, int(unix.SIGPIPE)
	info := ksignal.SiginfoKill(sig, ksignal.SIUser, p.PID, 0)
	if p != k.Init && !p.Exiting && !p.Stopped && p.Sig.Act[sig].Handler == ksignal.SigDfl &&
		!kernel.SignalfdWantsLocked(p, sig) && kernel.PtraceTracedTargetLocked(p, t) == nil {
		k.PushSignalLocked(p, t, sig, info, p.Sig.Act[sig], d)
		return
	}
	k.SignalFromAppLocked(p, t, sig, info, d)
}
