package client

import (
	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// applyClone creates the thread or process the server allocated for a
// forwarded clone, fork, vfork or clone3 (whose struct clone_args is
// read from inputs, the bytes the server checked). The server owns the
// IDs and the process tree; the client copies registers and memory.
func (t *task) applyClone(sysno uintptr, a [6]uint64, inputs []sysabi.Region, res *pb.CloneResult) (uint64, unix.Errno) {
	var flags, stack, ptid, ctid, tls uint64
	switch sysno {
	case unix.SYS_FORK:
		flags = uint64(linux.SIGCHLD)
	case unix.SYS_VFORK:
		flags = linux.CLONE_VM | linux.CLONE_VFORK | uint64(linux.SIGCHLD)
	case unix.SYS_CLONE:
		// x86-64 argument order: flags, newsp, parent_tid, child_tid, tls.
		flags, stack, ptid, ctid, tls = a[0], a[1], a[2], a[3], a[4]
	case unix.SYS_CLONE3:
		ca, ok := sysabi.CloneArgsOf(inputs, a[0], a[1])
		if !ok {
			// The server checked the struct it was sent.
			t.c.log.Warn("clone3 result without its struct clone_args", "tid", t.tid)
			return 0, unix.EFAULT
		}
		flags, stack, ptid, ctid, tls = ca.LegacyFlags(), ca.ChildStack(), ca.ParentTID, ca.ChildTID, ca.TLS
		t.callMemo.cloneFlags = flags
	default:
		t.c.log.Warn("clone result for a non-clone syscall", "syscall", sysName(sysno))
		return 0, unix.ENOSYS
	}
	tid := res.ChildTid
	if tid <= 0 {
		return 0, unix.EAGAIN
	}

	proc := t.proc
	if flags&linux.CLONE_THREAD == 0 {
		cr := t.creds()
		t.proc.mu.Lock()
		pers, dump, nnp := t.proc.personality, t.proc.dumpable, t.proc.noNewPrivs
		t.proc.mu.Unlock()
		proc = newProcess(tid, t.proc.limits.GetCopy(), cr)
		proc.personality, proc.dumpable, proc.noNewPrivs = pers, dump, nnp
		proc.dontDump = t.proc.dontDumpCopy()
		proc.membarrierRegs.Store(t.proc.membarrierRegs.Load())
		t.c.registerProc(proc)
	}
	child := t.c.newTask(tid, proc)
	child.seccomp.Store(t.seccomp.Load())
	t.mu.Lock()
	child.affinity = append(cpuMask(nil), t.affinity...)
	t.mu.Unlock()

	if err := t.pctx.PullFullState(t.mm.AddressSpace(), t.ac); err != nil {
		t.c.log.Warn("cannot pull thread state for clone", "tid", t.tid, "err", err)
	}
	if flags&linux.CLONE_VM != 0 {
		t.mm.IncUsers()
		child.mm = t.mm
		child.setStub(t.stub.Load())
		child.futexes = t.futexes
	} else {
		m2, err := t.mm.Fork(t.gctx)
		if err != nil {
			// The server already made the child: end it.
			t.c.log.Warn("cannot copy the address space for fork", "tid", t.tid, "err", err)
			child.pctx.Release()
			t.forwardInternal(unix.SYS_KILL, [6]uint64{uint64(tid), uint64(linux.SIGKILL)}, nil)
			return 0, unix.ENOMEM
		}
		child.mm = m2
		child.setStub(newStubCPU(m2.AddressSpace()))
		child.futexes = t.c.futexRoot.Fork()
	}
	child.ac = t.ac.Fork()
	child.ac.SetReturn(0)
	if stack != 0 {
		child.ac.SetStack(uintptr(stack))
	}
	if flags&linux.CLONE_SETTLS != 0 {
		if !child.ac.SetTLS(uintptr(tls)) {
			child.ac.SetTLS(0)
		}
	}
	child.pctx.FullStateChanged()
	t.mu.Lock()
	child.name = t.name
	child.mask = t.mask
	if flags&linux.CLONE_VM == 0 || flags&linux.CLONE_VFORK != 0 {
		child.altStack = t.altStack
	}
	t.mu.Unlock()
	if flags&linux.CLONE_CHILD_CLEARTID != 0 {
		child.clearTID = hostarch.Addr(ctid)
	}
	var tidBytes [4]byte
	hostarch.ByteOrder.PutUint32(tidBytes[:], uint32(tid))
	if flags&linux.CLONE_CHILD_SETTID != 0 {
		child.mm.CopyOut(child.gctx, hostarch.Addr(ctid), tidBytes[:], usermem.IOOpts{})
	}
	if flags&linux.CLONE_PARENT_SETTID != 0 {
		t.mm.CopyOut(t.gctx, hostarch.Addr(ptid), tidBytes[:], usermem.IOOpts{})
	}
	var vforkDone chan struct{}
	if flags&linux.CLONE_VFORK != 0 {
		vforkDone = make(chan struct{})
		child.vforkDone = vforkDone
	}
	t.c.startTask(child)
	if vforkDone != nil {
		// The parent sleeps until the child execs or exits; only a kill
		// ends the wait (signals wait until after).
		t.waitKillable(vforkDone)
	}
	return uint64(tid), 0
}

// waitKillable waits for ch, ignoring signals but not kills.
func (t *task) waitKillable(ch <-chan struct{}) {
	t.mu.Lock()
	if t.killed {
		t.mu.Unlock()
		return
	}
	t.state = stateBlocked
	t.mu.Unlock()
	defer t.setState(stateKernel)
	for {
		select {
		case <-ch:
			return
		case <-t.wake:
			if t.isKilled() {
				return
			}
		}
	}
}
