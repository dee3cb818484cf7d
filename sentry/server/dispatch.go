package server

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// syscallCtx is one forwarded system call being executed.
type syscallCtx struct {
	k     *clientState
	t     *thread
	seq   uint64
	sysno int32
	args  [6]uint64
	mem   *sysabi.Memory
	// memory is mem for a system call (dispatch): one allocation with
	// the context.
	memory sysabi.Memory
	// intr is closed by Interrupt; dead when the thread is killed.
	intr <-chan struct{}
	dead <-chan struct{}
	// reply is the reply being built; handlers set its action.
	reply *sentrypb.Reply
	// sigpipe asks dispatch to send SIGPIPE to the caller (EPIPE write).
	sigpipe bool
	// eff collects the effects committed with the reply (state.go).
	eff *callEffects
	// goferSize is the file size a gofer write reported last (-1: none);
	// goferStat is that write's whole Stat (nil: none).
	goferSize int64
	goferStat *goferpb.Stat
	// pageWrite is the mapped file id of a PageWrite being executed (0
	// for a system call): its own mapping is not told of the change.
	pageWrite uint64
	// pinned are the dentries whose gofer handles the handler uses
	// (handleOf), unpinned when it returns.
	pinned []*dentry
	// dataNotInCall says the bytes this call writes are not in its inputs
	// (sendfile, splice, tee, copy_file_range read them from another
	// file): its write records then carry them (WriteState.data), so
	// that the client can retain them. Set by the handler.
	dataNotInCall bool
	// noNewPrivs is the call's Syscall.no_new_privs (an execve of a
	// process with no_new_privs: set-id bits are ignored). Set once.
	noNewPrivs bool
	// notLeasable says the call's path walk crossed something other
	// than gofer files (/proc, /dev, an fd): its answer gets no
	// PathLease (pathlease.go). Set by the walk (maySearch, lookupAt).
	notLeasable bool
	// listingPath is the getdents64's Syscall.listing_path when its
	// reply may carry the entries' lstat answers (pathlease.go).
	listingPath string
	// pathView is what a path call's answer depends on as the call
	// began, when it may get a path lease (pathlease.go).
	pathView *pathView
	// accessCreds, when set, are the credentials the call's permission
	// checks use instead of the caller's: access(2)'s real ids (Linux's
	// access_override_creds), for its walk too. Set by the handler.
	accessCreds *auth.Creds
	// syncedWrites says the handler makes this call's gofer writes
	// durable before its reply (a server-side copy too large for the
	// client's log to carry, syncedCopy): they are neither tracked for
	// durability nor reported as WriteStates. Set by the handler.
	syncedWrites bool
	// goferParts counts the gofer writes this call made: each has its
	// own Origin part, so that a call writing several times is not
	// answered from the gofer's reply cache for its own earlier write.
	goferParts uint32
	// attrRun is the run of posted attribute calls this call is part of
	// (the front's, attrrun.go), nil when none. Set by dispatch.
	attrRun *attrRun
	// leasedData and posted are the call's Syscall.leased_data and
	// posted (leasedCopy, package copybehind). Set once.
	leasedData []byte
	posted     bool
	// installFD is a posted open's Syscall.install_fd: the fd its
	// description goes at (postopen.go; nil: the lowest free). Set once.
	installFD *int32
	// missingIn is the directory an unlink's last name was found
	// missing from when the caller may make names there (negunlink.go).
	// Set by the handler.
	missingIn *dentry
}

// resent says the call may be one the client re-sent after a Restore (its
// seq is below the Restore's): a gofer mutation whose effect is already
// visible is then passed to the gofer anyway, whose reply cache answers
// it as the first execution did.
func resent(c *syscallCtx) bool { return c.seq < c.k.ResentBelow.Load() }

// origin names this call to the gofer's reply cache; part tells apart the
// gofer mutations one call makes.
func origin(c *syscallCtx, part uint32) *goferpb.Origin {
	return &goferpb.Origin{ClientId: c.k.OriginID, Seq: c.seq, Part: part}
}

// callOf returns the kernel's call behind c, a Call the kernel gave a
// file operation (as gVisor's kernel.TaskFromContext): only this package,
// which made the call, may look behind the interface. nil for a nil c.
func callOf(c fdesc.Call) *syscallCtx {
	sc, _ := c.(*syscallCtx)
	return sc
}

var _ fdesc.Call = (*syscallCtx)(nil)

// Seq is c's fdesc.Call.Seq.
func (c *syscallCtx) Seq() uint64 { return c.seq }

// NextGoferOrigin is c's fdesc.Call.NextGoferOrigin: nil for a call the
// server makes for itself (seq 0), whose gofer writes the reply cache
// need not know.
func (c *syscallCtx) NextGoferOrigin() *goferpb.Origin {
	if c.seq == 0 {
		return nil
	}
	o := origin(c, c.goferParts)
	c.goferParts++
	return o
}

// GoferWrote is c's fdesc.Call.GoferWrote.
func (c *syscallCtx) GoferWrote(st *goferpb.Stat) {
	c.goferSize = int64(st.Size)
	c.goferStat = st
}

// Creds is c's fdesc.Call.Creds.
func (c *syscallCtx) Creds() auth.Creds { return callerCreds(c) }

// PID is c's fdesc.Call.PID.
func (c *syscallCtx) PID() int32 {
	if c.t == nil {
		return 0
	}
	return callPid(c)
}

// RaiseSIGPIPE is c's fdesc.Call.RaiseSIGPIPE.
func (c *syscallCtx) RaiseSIGPIPE() { c.sigpipe = true }

// handler executes one system call and returns its result or an error
// carrying the errno.
type handler func(c *syscallCtx) (int64, error)

// panicOnBug makes dispatch re-panic instead of answering EIO (tests).
var panicOnBug = false

// Block (c's fdesc.Call.Block) waits until ch is closed (nil: never) or timeout fires (nil:
// never). It returns ERESTARTSYS if the call is interrupted, the thread
// killed or the client freed, and ETIMEDOUT on timeout.
func (c *syscallCtx) Block(ch <-chan struct{}, timeout <-chan time.Time) error {
	c.t.Sleeping.Store(true)
	defer c.t.Sleeping.Store(false)
	select {
	case <-ch:
		return nil
	case <-c.intr:
		return syserr.RestartSys
	case <-c.dead:
		return syserr.RestartSys
	case <-c.k.Done:
		return syserr.RestartSys
	case <-timeout:
		return unix.ETIMEDOUT
	}
}

// blockUntil is block without a timeout: the wait a subsystem's blocking
// operation is given (filelock.Table.Lock).
func blockUntil(c *syscallCtx, ch <-chan struct{}) error { return c.Block(ch, nil) }

func callPid(c *syscallCtx) int32 { return c.t.Proc.PID }

// tid returns the caller's current TID.
func callTid(c *syscallCtx) int32 {
	c.k.Mu.Lock()
	defer c.k.Mu.Unlock()
	return c.t.TID
}

// fdTable returns the caller's fd table (EBADF... once exited: ESRCH).
func callFdTable(c *syscallCtx) (*fdTable, error) {
	c.k.Mu.Lock()
	defer c.k.Mu.Unlock()
	if c.t.Proc.FDs == nil {
		return nil, unix.ESRCH
	}
	return c.t.Proc.FDs, nil
}

// getFile returns a reference to the caller's fd.
func getFile(c *syscallCtx, fd int32) (*file, error) {
	tab, err := callFdTable(c)
	if err != nil {
		return nil, err
	}
	f, _, err := tab.Get(fd)
	return f, err
}

// fileAs returns the file at fd with its implementation when that is a T,
// with a reference the caller drops. For another kind of file it returns
// notT, or EBADF for an O_PATH descriptor, which is for its path only
// (Linux's fdget refuses it before the call looks at the kind).
func fileAs[T fileImpl](c *syscallCtx, fd int32, notT error) (*file, T, error) {
	var none T
	f, err := getFile(c, fd)
	if err != nil {
		return nil, none, err
	}
	impl, ok := f.Impl.(T)
	if !ok {
		path := f.IsPath()
		f.DecRef()
		if path {
			return nil, none, unix.EBADF
		}
		return nil, none, notT
	}
	return f, impl, nil
}

func argInt(c *syscallCtx, i int) int32 { return int32(c.args[i]) }

// logUnsupportedOnce logs, once per server, that the application used a
// feature (named by what) the server refuses with an errno.
func logUnsupportedOnce(k *clientState, what string) {
	if _, logged := k.Unsupported.LoadOrStore(what, struct{}{}); !logged {
		k.Log.Warn("unsupported", "what", what)
	}
}

// dispatch executes one forwarded system call of thread t; run is the
// run of posted attribute calls it is part of (nil: none).
func dispatch(k *clientState, t *thread, seq uint64, sc *sentrypb.Syscall, intr chan struct{}, run *attrRun) *sentrypb.Reply {
	r := &sentrypb.Reply{Seq: seq}
	c := &syscallCtx{k: k, t: t, seq: seq, sysno: sc.Sysno, intr: intr, dead: t.Dead, reply: r, noNewPrivs: sc.NoNewPrivs, attrRun: run,
		leasedData: sc.LeasedData, posted: sc.Posted, installFD: sc.InstallFd}
	copy(c.args[:], sc.Args)
	inputs := make([]sysabi.Region, 0, len(sc.Inputs))
	for _, in := range sc.Inputs {
		if in != nil {
			inputs = append(inputs, sysabi.Region{Addr: in.Addr, Data: in.Data})
		}
	}
	c.memory = sysabi.MakeMemory(inputs)
	c.mem = &c.memory
	if sc.CallGen != 0 {
		t.SigWait.Update(sc.CallGen, sc.PendingSignals)
	}
	h := syscallTable[sc.Sysno]
	if h == nil {
		if _, logged := k.Unsupported.LoadOrStore(sc.Sysno, struct{}{}); !logged {
			k.Log.Warn("unsupported system call", "sysno", sc.Sysno, "name", sysName(sc.Sysno))
		}
		r.Errno = int32(unix.ENOSYS)
		strace(k, c, 0, unix.ENOSYS)
		return r
	}
	pl := beginPathLease(k, c, sc.PathLeaseWanted, sc.ListingPath)
	ret, skipped, err := runReportingDeferred(k, h, c, sc.Posted)
	endPathLease(k, c, pl, skipped, err)
	if c.eff != nil {
		k.Trk.SetEffects(seq, c.eff)
	}
	if skipped {
		strace(k, c, ret, syserr.ErrnoOf(err))
		r.Errno = int32(syserr.ErrnoOf(err))
		return r
	}
	if c.sigpipe {
		k.Mu.Lock()
		var d deferred
		if !t.Killed {
			sigpipeLocked(k, t, &d)
		}
		k.Mu.Unlock()
		d.Run(k.Out)
	}
	if err != nil {
		e := syserr.ErrnoOf(err)
		if e == syserr.UnknownErrno && !syserr.IsErrno(err) {
			k.Log.Warn("system call failed", "name", sysName(sc.Sysno), "err", err)
		}
		r.Errno = int32(e)
		r.Ret = 0
		if syserr.KeepsOutputs(err) {
			for _, o := range c.mem.Outputs() {
				r.Outputs = append(r.Outputs, &sentrypb.Region{Addr: o.Addr, Data: o.Data})
			}
		}
		if _, isExit := r.Action.(*sentrypb.Reply_Exit); !isExit {
			r.Action = nil
		}
	} else {
		r.Ret = ret
		if sc.LeaseWanted {
			grantReadLease(k, c, ret)
		}
		for _, o := range c.mem.Outputs() {
			r.Outputs = append(r.Outputs, &sentrypb.Region{Addr: o.Addr, Data: o.Data})
		}
	}
	strace(k, c, ret, syserr.ErrnoOf(err))
	return r
}

func runHandler(k *clientState, h handler, c *syscallCtx) (ret int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			if panicOnBug {
				panic(p)
			}
			k.Log.Error("BUG: system call handler panicked", "name", sysName(c.sysno), "panic", p, "stack", string(debug.Stack()))
			ret, err = 0, fmt.Errorf("handler panic: %v: %w", p, unix.EIO)
		}
	}()
	defer unpinAll(c)
	return h(c)
}

func sysName(sysno int32) string {
	if sysno < 0 {
		return fmt.Sprintf("syscall_%d", sysno)
	}
	return sysabi.Name(uintptr(sysno))
}

func strace(k *clientState, c *syscallCtx, ret int64, errno unix.Errno) {
	if !k.StraceOn {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s(", sysName(c.sysno))
	for i, a := range c.args {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%#x", a)
	}
	b.WriteString(")")
	tid := callTid(c)
	if errno != 0 {
		k.Log.Info("strace", "tid", tid, "seq", c.seq, "call", b.String(), "errno", errno.Error())
	} else {
		k.Log.Info("strace", "tid", tid, "seq", c.seq, "call", b.String(), "ret", ret)
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
func sigpipeLocked(k *clientState, t *thread, d *deferred) {
	p, sig := t.Proc, int(unix.SIGPIPE)
	info := ksignal.SiginfoKill(sig, ksignal.SIUser, p.PID, 0)
	if p != k.Init && !p.Exiting && !p.Stopped && p.Sig.Act[sig].Handler == ksignal.SigDfl &&
		!signalfdWantsLocked(p, sig) && ptraceTracedTargetLocked(p, t) == nil {
		pushSignalLocked(k, p, t, sig, info, p.Sig.Act[sig], d)
		return
	}
	signalFromAppLocked(k, p, t, sig, info, d)
}
