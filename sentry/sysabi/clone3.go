package sysabi

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// clone3(2)'s struct clone_args (linux/sched.h), shared by the client,
// which reads the child's stack, TLS and tid addresses from it, and the
// server, which validates it and makes the child.

// Sizes of struct clone_args: the first version (up to tls), the second
// (set_tid, set_tid_size), the third (cgroup), which is all Linux 6.1
// knows.
const (
	CloneArgsSizeVer0 = 64
	CloneArgsSizeVer1 = 80
	CloneArgsSizeVer2 = 88
	SizeofCloneArgs   = CloneArgsSizeVer2
)

// Flags only clone3 takes (above clone's 32 bits), and CLONE_DETACHED,
// which clone3 refuses so that the bit may be reused.
const (
	CloneClearSighand = 0x100000000 // CLONE_CLEAR_SIGHAND
	CloneIntoCgroup   = 0x200000000 // CLONE_INTO_CGROUP
	CloneDetached     = 0x00400000  // CLONE_DETACHED
	cloneLegacyFlags  = 0xffffffff  // CLONE_LEGACY_FLAGS
	cloneSignalMask   = 0xff        // CSIGNAL
	cloneNewTime      = 0x80        // CLONE_NEWTIME, the one CSIGNAL bit clone3 takes
	maxPidNSLevel     = 32          // MAX_PID_NS_LEVEL
	numSignals        = 64          // _NSIG
)

// CloneArgs is struct clone_args.
type CloneArgs struct {
	Flags      uint64
	Pidfd      uint64 // int __user *: where the pidfd goes (CLONE_PIDFD)
	ChildTID   uint64
	ParentTID  uint64
	ExitSignal uint64
	Stack      uint64 // the lowest address of the child's stack
	StackSize  uint64
	TLS        uint64
	SetTID     uint64 // pid_t __user *: set_tid_size pids, innermost namespace last
	SetTIDSize uint64
	Cgroup     uint64
}

// DecodeCloneArgs reads a struct clone_args of len(b) bytes (the size
// argument, from CloneArgsSizeVer0 up to a page) as Linux's
// copy_struct_from_user: a shorter struct's missing fields are zero, a
// longer one's extra bytes must be zero (E2BIG otherwise).
func DecodeCloneArgs(b []byte) (CloneArgs, error) {
	if len(b) > SizeofCloneArgs {
		for _, x := range b[SizeofCloneArgs:] {
			if x != 0 {
				return CloneArgs{}, unix.E2BIG
			}
		}
		b = b[:SizeofCloneArgs]
	}
	var full [SizeofCloneArgs]byte
	copy(full[:], b)
	f := func(i int) uint64 { return binary.LittleEndian.Uint64(full[8*i:]) }
	return CloneArgs{
		Flags: f(0), Pidfd: f(1), ChildTID: f(2), ParentTID: f(3), ExitSignal: f(4),
		Stack: f(5), StackSize: f(6), TLS: f(7), SetTID: f(8), SetTIDSize: f(9), Cgroup: f(10),
	}, nil
}

// CheckCloneArgsSize is the first check of clone3's size argument: E2BIG
// above a page, EINVAL below the first version.
func CheckCloneArgsSize(size uint64) error {
	if size > pageSize {
		return unix.E2BIG
	}
	if size < CloneArgsSizeVer0 {
		return unix.EINVAL
	}
	return nil
}

// CheckCopied makes the checks of Linux's copy_clone_args_from_user
// after the struct's copy, in their order; size is clone3's size
// argument. The set_tid array is read after them, then Valid checks the
// rest. Everything they refuse is EINVAL.
func (a *CloneArgs) CheckCopied(size uint64) error {
	switch {
	case a.SetTIDSize > maxPidNSLevel,
		a.SetTID == 0 && a.SetTIDSize > 0,
		a.SetTID != 0 && a.SetTIDSize == 0:
		return unix.EINVAL
	case a.ExitSignal&^cloneSignalMask != 0 || a.ExitSignal > numSignals:
		// The kernel's valid_signal: up to _NSIG itself.
		return unix.EINVAL
	case a.Flags&CloneIntoCgroup != 0 && (a.Cgroup > 1<<31-1 || size < CloneArgsSizeVer2):
		return unix.EINVAL
	}
	return nil
}

// Valid makes the checks of Linux's clone3_args_valid and the first of
// kernel_clone, in their order.
func (a *CloneArgs) Valid() error {
	switch {
	case a.Flags&^(cloneLegacyFlags|CloneClearSighand|CloneIntoCgroup) != 0:
		return unix.EINVAL
	case a.Flags&(CloneDetached|(cloneSignalMask&^cloneNewTime)) != 0:
		// Bits clone3 keeps for later use.
		return unix.EINVAL
	case a.Flags&(unix.CLONE_SIGHAND|CloneClearSighand) == unix.CLONE_SIGHAND|CloneClearSighand:
		return unix.EINVAL
	case a.Flags&(unix.CLONE_THREAD|unix.CLONE_PARENT) != 0 && a.ExitSignal != 0:
		return unix.EINVAL
	case a.Stack == 0 && a.StackSize != 0, a.Stack != 0 && a.StackSize == 0:
		return unix.EINVAL
	case a.Stack != 0 && (a.Stack+a.StackSize < a.Stack || a.Stack+a.StackSize > maxUserAddress):
		// access_ok of the stack.
		return unix.EINVAL
	}
	// kernel_clone: clone3's pidfd and parent tid may not share a
	// location (clone's always do, so there the flags exclude each
	// other).
	if a.Flags&unix.CLONE_PIDFD != 0 && a.Flags&unix.CLONE_PARENT_SETTID != 0 && a.Pidfd == a.ParentTID {
		return unix.EINVAL
	}
	return nil
}

// maxUserAddress is x86-64's TASK_SIZE_MAX with 4-level page tables, the
// end of the addresses access_ok accepts.
const maxUserAddress = 1<<47 - pageSize

// ChildStack is the child's stack pointer: the top of the stack clone3
// was given (stack + stack_size; the stack grows down), or 0 to keep the
// parent's.
func (a *CloneArgs) ChildStack() uint64 {
	if a.Stack == 0 {
		return 0
	}
	return a.Stack + a.StackSize
}

// LegacyFlags are a's flags as clone(2) passes them: the exit signal in
// the low byte (which Check made sure is free).
func (a *CloneArgs) LegacyFlags() uint64 {
	return a.Flags | a.ExitSignal
}

// CloneArgsOf finds the struct clone_args of a clone3 at addr of size
// bytes among a call's inputs (the bytes the server checked), and
// decodes it.
func CloneArgsOf(inputs []Region, addr, size uint64) (CloneArgs, bool) {
	for _, r := range inputs {
		if r.Addr == addr && uint64(len(r.Data)) == size {
			a, err := DecodeCloneArgs(r.Data)
			return a, err == nil
		}
	}
	return CloneArgs{}, false
}

// WriteChecker is implemented by an AppMemory that can tell whether the
// application may write n bytes at addr (without writing them).
type WriteChecker interface {
	Writable(addr uint64, n int) bool
}

// appendPidfdProbe adds the 4 bytes at addr, where a clone with
// CLONE_PIDFD writes the pidfd, as an input if the application may write
// them: Linux's put_user of the pidfd fails the clone with EFAULT before
// the child runs, but the client writes the outputs after the server
// made the child, so the server learns from this region's presence
// whether the write would succeed.
func appendPidfdProbe(dst []Region, addr uint64, mem AppMemory) []Region {
	if addr == 0 {
		return dst
	}
	if w, ok := mem.(WriteChecker); ok && !w.Writable(addr, 4) {
		return dst
	}
	b, err := mem.ReadAt(addr, 4)
	if err != nil {
		return dst
	}
	return append(dst, Region{Addr: addr, Data: b})
}

// appendClone3Inputs adds clone3's inputs: its struct clone_args (unless
// Linux refuses the size before reading it), the set_tid array it names
// (unless its size is refused first), and the pidfd's probe.
func appendClone3Inputs(dst []Region, args [6]uint64, mem AppMemory) []Region {
	addr, size := args[0], args[1]
	if addr == 0 || CheckCloneArgsSize(size) != nil {
		return dst
	}
	b, err := mem.ReadAt(addr, int(size))
	if err != nil {
		return dst
	}
	dst = append(dst, Region{Addr: addr, Data: b})
	a, err := DecodeCloneArgs(b)
	if err != nil {
		return dst
	}
	if a.SetTID != 0 && a.SetTIDSize > 0 && a.SetTIDSize <= maxPidNSLevel {
		if ids, err := mem.ReadAt(a.SetTID, int(4*a.SetTIDSize)); err == nil {
			dst = append(dst, Region{Addr: a.SetTID, Data: ids})
		}
	}
	if a.Flags&unix.CLONE_PIDFD != 0 {
		dst = appendPidfdProbe(dst, a.Pidfd, mem)
	}
	return dst
}
