package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// The capability calls (capget, capset, the prctl capability options)
// over package auth's capability sets: five sets and the securebits, as
// Linux keeps them in struct cred, here per process (Linux keeps them per thread; a capset in
// one thread of a multithreaded process changes them all here). There are
// no file capabilities (the gofer does not report security.capability)
// and no user namespaces, so execve applies Linux's transform for a file
// without capabilities.

// capHeader reads capget/capset's header at addr and returns how many
// 32-bit data structs its version takes and the pid. An unknown version
// is written back as the preferred one and fails with EINVAL (libcap
// probes the version this way).
func capHeader(c *kernel.Task, addr uint64) (words int, pid int32, err error) {
	b, err := c.Mem.CopyIn(addr, 8)
	if err != nil {
		return 0, 0, err
	}
	switch binary.LittleEndian.Uint32(b) {
	case linux.LINUX_CAPABILITY_VERSION_1:
		words = 1
	case linux.LINUX_CAPABILITY_VERSION_2, linux.LINUX_CAPABILITY_VERSION_3:
		words = 2
	default:
		var v [4]byte
		binary.LittleEndian.PutUint32(v[:], linux.HighestCapabilityVersion)
		if err := c.Mem.CopyOut(addr, v[:]); err != nil {
			return 0, 0, err
		}
		return 0, 0, syserr.KeepOutputs(unix.EINVAL)
	}
	return words, int32(binary.LittleEndian.Uint32(b[4:])), nil
}

// Capget implements capget(2).
func Capget(c *kernel.Task) (int64, error) {
	words, pid, err := capHeader(c, c.Args[0])
	if err != nil {
		return 0, err
	}
	if c.Args[1] == 0 {
		return 0, nil // a version probe
	}
	if pid < 0 {
		return 0, unix.EINVAL
	}
	k := c.Kernel
	k.Mu.Lock()
	p := c.Thread.Proc
	if pid != 0 {
		t := k.Threads[pid]
		if t == nil || t.Proc == nil {
			k.Mu.Unlock()
			return 0, unix.ESRCH
		}
		p = t.Proc
	}
	cs := p.Creds.Caps
	k.Mu.Unlock()
	b := make([]byte, 12*words)
	for i := range words {
		shift := 32 * uint(i)
		binary.LittleEndian.PutUint32(b[12*i:], uint32(cs.Effective>>shift))
		binary.LittleEndian.PutUint32(b[12*i+4:], uint32(cs.Permitted>>shift))
		binary.LittleEndian.PutUint32(b[12*i+8:], uint32(cs.Inheritable>>shift))
	}
	return 0, c.Mem.CopyOut(c.Args[1], b)
}

// Capset sets the caller's own sets on Linux's rules (cap_capset): the
// permitted set may only shrink, effective must lie within the new
// permitted set, and inheritable may only gain what is permitted (any of
// the bounding set with CAP_SETPCAP).
func Capset(c *kernel.Task) (int64, error) {
	words, pid, err := capHeader(c, c.Args[0])
	if err != nil {
		return 0, err
	}
	b, err := c.Mem.CopyIn(c.Args[1], 12*words)
	if err != nil {
		return 0, err
	}
	var eff, prm, inh uint64
	for i := range words {
		shift := 32 * uint(i)
		eff |= uint64(binary.LittleEndian.Uint32(b[12*i:])) << shift
		prm |= uint64(binary.LittleEndian.Uint32(b[12*i+4:])) << shift
		inh |= uint64(binary.LittleEndian.Uint32(b[12*i+8:])) << shift
	}
	eff, prm, inh = eff&auth.CapAll, prm&auth.CapAll, inh&auth.CapAll
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	if pid != 0 && pid != p.PID && pid != c.Thread.TID {
		return 0, unix.EPERM
	}
	cs := &p.Creds.Caps
	if !p.Creds.Capable(linux.CAP_SETPCAP) && inh&^(cs.Inheritable|cs.Permitted) != 0 {
		return 0, unix.EPERM
	}
	if inh&^(cs.Inheritable|cs.Bounding) != 0 || prm&^cs.Permitted != 0 || eff&^prm != 0 {
		return 0, unix.EPERM
	}
	cs.Effective, cs.Permitted, cs.Inheritable = eff, prm, inh
	cs.Ambient &= prm & inh
	k.Trk.Changed(p)
	return 0, nil
}

// PrctlCaps implements the prctl options on capabilities and securebits
// (the client forwards them; the rest of prctl is local to the client).
func PrctlCaps(c *kernel.Task) (int64, error) {
	option, arg2, arg3, arg4, arg5 := c.Args[0], c.Args[1], c.Args[2], c.Args[3], c.Args[4]
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	cr := &p.Creds
	cs := &cr.Caps
	valid := func(cp uint64) bool { return cp <= uint64(linux.CAP_LAST_CAP) }
	switch option {
	case linux.PR_CAPBSET_READ:
		if !valid(arg2) {
			return 0, unix.EINVAL
		}
		return int64(cs.Bounding >> arg2 & 1), nil
	case linux.PR_CAPBSET_DROP:
		if !cr.Capable(linux.CAP_SETPCAP) {
			return 0, unix.EPERM
		}
		if !valid(arg2) {
			return 0, unix.EINVAL
		}
		cs.Bounding &^= 1 << arg2
	case linux.PR_CAP_AMBIENT:
		if arg2 == linux.PR_CAP_AMBIENT_CLEAR_ALL {
			if arg3|arg4|arg5 != 0 {
				return 0, unix.EINVAL
			}
			cs.Ambient = 0
			break
		}
		if !valid(arg3) || arg4|arg5 != 0 {
			return 0, unix.EINVAL
		}
		bit := uint64(1) << arg3
		switch arg2 {
		case linux.PR_CAP_AMBIENT_IS_SET:
			if cs.Ambient&bit != 0 {
				return 1, nil
			}
			return 0, nil
		case linux.PR_CAP_AMBIENT_RAISE:
			if cs.Permitted&bit == 0 || cs.Inheritable&bit == 0 || cs.Securebits&auth.SecbitNoCapAmbientRaise != 0 {
				return 0, unix.EPERM
			}
			cs.Ambient |= bit
		case linux.PR_CAP_AMBIENT_LOWER:
			cs.Ambient &^= bit
		default:
			return 0, unix.EINVAL
		}
	case linux.PR_GET_KEEPCAPS:
		if arg2|arg3|arg4|arg5 != 0 {
			return 0, unix.EINVAL
		}
		return int64(cs.Securebits & auth.SecbitKeepCaps >> 4), nil
	case linux.PR_SET_KEEPCAPS:
		if arg2 > 1 || arg3|arg4|arg5 != 0 {
			return 0, unix.EINVAL
		}
		if cs.Securebits&auth.SecbitKeepCapsLocked != 0 {
			return 0, unix.EPERM
		}
		if arg2 == 1 {
			cs.Securebits |= auth.SecbitKeepCaps
		} else {
			cs.Securebits &^= auth.SecbitKeepCaps
		}
	case linux.PR_GET_SECUREBITS:
		return int64(cs.Securebits), nil
	case linux.PR_SET_SECUREBITS:
		// Locked bits may not change, nor may a lock be undone (their
		// lock bits are the odd ones above each bit).
		locked := cs.Securebits & auth.SecbitsLocks >> 1
		if (uint32(arg2)^cs.Securebits)&locked != 0 || cs.Securebits&auth.SecbitsLocks&^uint32(arg2) != 0 || arg2&^uint64(auth.SecbitsAll) != 0 ||
			!cr.Capable(linux.CAP_SETPCAP) {
			return 0, unix.EPERM
		}
		cs.Securebits = uint32(arg2)
	default:
		return 0, unix.EINVAL
	}
	k.Trk.Changed(p)
	return 0, nil
}
