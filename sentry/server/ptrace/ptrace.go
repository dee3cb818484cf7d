package ptrace

import (
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// YamaScope is /proc/sys/kernel/yama/ptrace_scope as the server reports
// it: 0, classic ptrace permissions.
const YamaScope = 0

// CLDTrapped is waitid's si_code of a ptrace-stop.
const CLDTrapped = 4

// OptionsMask are the PTRACE_SETOPTIONS flags the server accepts.
const OptionsMask = linux.PTRACE_O_TRACESYSGOOD | linux.PTRACE_O_TRACEFORK | linux.PTRACE_O_TRACEVFORK |
	linux.PTRACE_O_TRACECLONE | linux.PTRACE_O_TRACEEXEC | linux.PTRACE_O_TRACEVFORKDONE | linux.PTRACE_O_TRACEEXIT |
	linux.PTRACE_O_TRACESECCOMP | linux.PTRACE_O_EXITKILL

// Creds are the credentials the permission check looks at.
type Creds struct {
	RUID, EUID, SUID, RGID, EGID, SGID uint32
	// CapSysPtrace says the process has CAP_SYS_PTRACE.
	CapSysPtrace bool
}

// MayAccess is Linux's __ptrace_may_access with Yama's scope: the tracer
// has the tracee's real, effective and saved ids, or CAP_SYS_PTRACE;
// ancestor (asked only under scope 1) says the tracer is an ancestor of
// the tracee.
func MayAccess(tracer, tracee Creds, ancestor func() bool) bool {
	if YamaScope >= 3 {
		return false
	}
	if tracer.CapSysPtrace {
		return true
	}
	if YamaScope >= 2 {
		return false
	}
	a, b := tracer, tracee
	if a.RUID != b.RUID || a.RUID != b.EUID || a.RUID != b.SUID || a.RGID != b.RGID || a.RGID != b.EGID || a.RGID != b.SGID {
		return false
	}
	return YamaScope != 1 || ancestor()
}

// CloneOption is the PTRACE_O_TRACE* option that traces a clone with
// flags: vfork, fork (exit signal SIGCHLD) or clone.
func CloneOption(flags uint64) uint32 {
	switch {
	case flags&unix.CLONE_VFORK != 0:
		return linux.PTRACE_O_TRACEVFORK
	case flags&unix.CLONE_THREAD == 0 && flags&0xff == uint64(unix.SIGCHLD):
		return linux.PTRACE_O_TRACEFORK
	}
	return linux.PTRACE_O_TRACECLONE
}

// IsStopStatus says status is a stop's wait status.
func IsStopStatus(status int32) bool { return status&0xff == 0x7f }

// Tracee is a traced thread's relation (without its tracer, which the
// owner links) and ptrace-stop. The owner's lock protects it.
type Tracee struct {
	Options uint32
	// Seized says the relation was made by PTRACE_SEIZE.
	Seized bool
	// StopGen numbers the thread's last ptrace-stop (the client counts);
	// Stopped says the thread is in it, with wait status StopStatus;
	// WaitPending says the tracer has not waited for it.
	StopGen     uint64
	StopStatus  int32
	Stopped     bool
	WaitPending bool
	// ResumeReq and ResumeSig are how the tracer ended stop StopGen, by
	// its call ResumeSeq.
	ResumeReq, ResumeSig int32
	ResumeSeq            uint64
	// ExitPending says the tracee ended and its tracer has not waited
	// for it; ExitStatus is the wait status it reports.
	ExitPending bool
	ExitStatus  int32
	// wake is closed when the stop ends; entered when the tracee next
	// enters a stop (if someone waits for that).
	wake, entered chan struct{}
}

// EnterStop makes stop gen with wait status the current one. fresh is
// false for the stop the tracee is already in (a call re-sent after a
// recovery); an older stop or a malformed one is EINVAL.
func (tr *Tracee) EnterStop(gen uint64, status int32) (fresh bool, err error) {
	if gen == 0 || !IsStopStatus(status) {
		return false, unix.EINVAL
	}
	switch {
	case gen < tr.StopGen:
		return false, unix.EINVAL
	case gen == tr.StopGen:
		return false, nil
	}
	tr.StopGen, tr.StopStatus = gen, status
	tr.Stopped, tr.WaitPending = true, true
	tr.ResumeReq, tr.ResumeSig = 0, 0
	if tr.entered != nil {
		close(tr.entered)
		tr.entered = nil
	}
	return true, nil
}

// Resume ends the current stop with the tracer's request req, made by
// its call seq (0: none), and the signal sig to inject.
func (tr *Tracee) Resume(req, sig int32, seq uint64) {
	tr.Stopped, tr.WaitPending = false, false
	tr.ResumeReq, tr.ResumeSig, tr.ResumeSeq = req, sig, seq
	if tr.wake != nil {
		close(tr.wake)
		tr.wake = nil
	}
}

// Wake returns a channel closed when the current stop ends.
func (tr *Tracee) Wake() <-chan struct{} {
	if tr.wake == nil {
		tr.wake = make(chan struct{})
	}
	return tr.wake
}

// ResumedBy says the tracer's call seq ended a stop already (the call is
// re-sent after a recovery, and must not end the next stop).
func (tr *Tracee) ResumedBy(seq uint64) bool { return seq != 0 && tr.ResumeSeq == seq }

// WaitEntered returns a channel closed when the tracee next enters a
// stop.
func (tr *Tracee) WaitEntered() <-chan struct{} {
	if tr.entered == nil {
		tr.entered = make(chan struct{})
	}
	return tr.entered
}

// CanListen says PTRACE_LISTEN may end the current stop: a seized
// tracee's group-stop trap (PTRACE_EVENT_STOP with a stop signal).
func (tr *Tracee) CanListen(isStopSignal func(sig int) bool) bool {
	return tr.Seized && tr.StopStatus>>16 == linux.PTRACE_EVENT_STOP && isStopSignal(int(tr.StopStatus>>8)&0xff)
}

// Proto is the tracee's PtraceState record, with tracer its tracer's TID.
func (tr *Tracee) Proto(tracer int32) *sentrypb.PtraceState {
	return &sentrypb.PtraceState{
		Tracer: tracer, Options: tr.Options, Seized: tr.Seized,
		StopGen: tr.StopGen, StopStatus: tr.StopStatus, Stopped: tr.Stopped, WaitPending: tr.WaitPending,
		Resumed: !tr.Stopped && tr.StopGen > 0, ResumeRequest: tr.ResumeReq, ResumeSigno: tr.ResumeSig,
		ResumeSeq: tr.ResumeSeq, ExitPending: tr.ExitPending,
	}
}

// FromProto is the Tracee a record describes, or an error if no server
// could have recorded it.
func FromProto(ps *sentrypb.PtraceState) (*Tracee, error) {
	if ps.Options&^OptionsMask != 0 {
		return nil, fmt.Errorf("ptrace options %#x: %w", ps.Options, unix.EINVAL)
	}
	if ps.Stopped && !IsStopStatus(ps.StopStatus) {
		return nil, fmt.Errorf("ptrace stop status %#x: %w", ps.StopStatus, unix.EINVAL)
	}
	if ps.ResumeSigno < 0 || ps.ResumeSigno > linux.SignalMaximum {
		return nil, fmt.Errorf("ptrace resume signal %d: %w", ps.ResumeSigno, unix.EINVAL)
	}
	return &Tracee{
		Options: ps.Options, Seized: ps.Seized,
		StopGen: ps.StopGen, StopStatus: ps.StopStatus, Stopped: ps.Stopped, WaitPending: ps.Stopped && ps.WaitPending,
		ResumeReq: ps.ResumeRequest, ResumeSig: ps.ResumeSigno, ResumeSeq: ps.ResumeSeq, ExitPending: ps.ExitPending,
	}, nil
}
