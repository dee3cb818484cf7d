package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Capabilities, as Linux keeps them in struct cred: five sets and the
// securebits, here per process (Linux keeps them per thread; a capset in
// one thread of a multithreaded process changes them all here). There are
// no file capabilities (the gofer does not report security.capability)
// and no user namespaces, so execve applies Linux's transform for a file
// without capabilities.

// capAll is every capability this kernel knows (CAP_LAST_CAP and below).
const capAll = uint64(1)<<(linux.CAP_LAST_CAP+1) - 1

// capFSSet are the capabilities an fsuid change to or from 0 drops or
// restores (Linux's CAP_FS_SET).
const capFSSet = 1<<linux.CAP_CHOWN | 1<<linux.CAP_MKNOD | 1<<linux.CAP_DAC_OVERRIDE |
	1<<linux.CAP_DAC_READ_SEARCH | 1<<linux.CAP_FOWNER | 1<<linux.CAP_FSETID |
	1<<linux.CAP_MAC_OVERRIDE | 1<<linux.CAP_LINUX_IMMUTABLE

// capSets are a process's capability sets and securebits.
type capSets struct {
	effective, permitted, inheritable, bounding, ambient uint64
	securebits                                           uint32
}

// initialCaps are the sets of a first process running as uid: root gets
// every capability (as runsc gives under `do`), others none; both keep
// the full bounding set.
func initialCaps(uid uint32) capSets {
	cs := capSets{bounding: capAll}
	if uid == 0 {
		cs.effective, cs.permitted = capAll, capAll
	}
	return cs
}

// capsFromProto returns the sets pb describes (nil: initialCaps(uid)),
// limited to the capabilities this kernel knows.
func capsFromProto(pb *sentrypb.CapSets, uid uint32) capSets {
	if pb == nil {
		return initialCaps(uid)
	}
	return capSets{
		effective: pb.Effective & capAll, permitted: pb.Permitted & capAll,
		inheritable: pb.Inheritable & capAll, bounding: pb.Bounding & capAll,
		ambient: pb.Ambient & capAll, securebits: pb.Securebits & secbitsAll,
	}
}

func (cs capSets) proto() *sentrypb.CapSets {
	return &sentrypb.CapSets{
		Effective: cs.effective, Permitted: cs.permitted, Inheritable: cs.inheritable,
		Bounding: cs.bounding, Ambient: cs.ambient, Securebits: cs.securebits,
	}
}

// capable reports whether the process holds cp in its effective set.
func (cr creds) capable(cp linux.Capability) bool {
	return cr.caps.effective&(1<<uint(cp)) != 0
}

// fixSetuid adjusts the capabilities after the uids changed from old
// (Linux's cap_emulate_setxuid): leaving root in all three uids clears
// the permitted and effective sets (unless SECBIT_KEEP_CAPS) and the
// ambient set; leaving euid 0 clears the effective set; returning to
// euid 0 restores it from the permitted set.
func (cr *creds) fixSetuid(old creds) {
	cs := &cr.caps
	wasRoot := old.ruid == 0 || old.euid == 0 || old.suid == 0
	if wasRoot && cr.ruid != 0 && cr.euid != 0 && cr.suid != 0 {
		if cs.securebits&secbitKeepCaps == 0 {
			cs.permitted, cs.effective = 0, 0
		}
		cs.ambient = 0
	}
	if old.euid == 0 && cr.euid != 0 {
		cs.effective = 0
	}
	if old.euid != 0 && cr.euid == 0 {
		cs.effective = cs.permitted
	}
}

// fixSetfsuid adjusts the effective set after the fsuid changed from
// oldFsuid (Linux's cap_task_fix_setuid for LSM_SETID_FS).
func (cr *creds) fixSetfsuid(oldFsuid uint32) {
	cs := &cr.caps
	if oldFsuid == 0 && cr.fsuid != 0 {
		cs.effective &^= capFSSet
	}
	if oldFsuid != 0 && cr.fsuid == 0 {
		cs.effective |= cs.permitted & capFSSet
	}
}

// execSetID applies execve's change of ids for a program with attributes
// image (Linux's bprm_fill_uid and cap_bprm_creds_from_file): a
// set-user-ID program runs with its owner as effective uid, a
// set-group-ID one (with group execute) with its group as effective gid,
// unless noNewPrivs; the saved and filesystem ids then follow the
// effective ones. A change of ids drops the ambient capabilities.
func (cr *creds) execSetID(image fileAttrs, noNewPrivs bool) {
	if !noNewPrivs && image.mode&unix.S_IFMT == unix.S_IFREG {
		if image.mode&unix.S_ISUID != 0 {
			cr.euid = image.uid
		}
		if image.mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP {
			cr.egid = image.gid
		}
	}
	if cr.euid != cr.ruid || cr.egid != cr.rgid {
		cr.caps.ambient = 0
	}
	cr.suid, cr.fsuid = cr.euid, cr.euid
	cr.sgid, cr.fsgid = cr.egid, cr.egid
}

// execCaps applies execve's transform for a file without capabilities
// and without set-user-ID (Linux's cap_bprm_creds_from_file): a process
// with ruid or euid 0 gets its bounding and inheritable sets as permitted
// (effective too when euid is 0); others keep only the ambient set.
// SECBIT_KEEP_CAPS is cleared.
func (cr *creds) execCaps() {
	cs := &cr.caps
	var effective bool
	if cs.securebits&secbitNoroot == 0 && (cr.euid == 0 || cr.ruid == 0) {
		cs.permitted = cs.bounding | cs.inheritable
		effective = cr.euid == 0
	} else {
		cs.permitted = cs.ambient
	}
	if effective {
		cs.effective = cs.permitted
	} else {
		cs.effective = cs.ambient
	}
	cs.securebits &^= secbitKeepCaps
}

// capHeader reads capget/capset's header at addr and returns how many
// 32-bit data structs its version takes and the pid. An unknown version
// is written back as the preferred one and fails with EINVAL (libcap
// probes the version this way).
func (c *syscallCtx) capHeader(addr uint64) (words int, pid int32, err error) {
	b, err := c.mem.CopyIn(addr, 8)
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
		if err := c.mem.CopyOut(addr, v[:]); err != nil {
			return 0, 0, err
		}
		return 0, 0, outputsError{unix.EINVAL}
	}
	return words, int32(binary.LittleEndian.Uint32(b[4:])), nil
}

func sysCapget(c *syscallCtx) (int64, error) {
	words, pid, err := c.capHeader(c.args[0])
	if err != nil {
		return 0, err
	}
	if c.args[1] == 0 {
		return 0, nil // a version probe
	}
	if pid < 0 {
		return 0, unix.EINVAL
	}
	k := c.k
	k.mu.Lock()
	p := c.t.proc
	if pid != 0 {
		t := k.threads[pid]
		if t == nil || t.proc == nil {
			k.mu.Unlock()
			return 0, unix.ESRCH
		}
		p = t.proc
	}
	cs := p.creds.caps
	k.mu.Unlock()
	b := make([]byte, 12*words)
	for i := range words {
		shift := 32 * uint(i)
		binary.LittleEndian.PutUint32(b[12*i:], uint32(cs.effective>>shift))
		binary.LittleEndian.PutUint32(b[12*i+4:], uint32(cs.permitted>>shift))
		binary.LittleEndian.PutUint32(b[12*i+8:], uint32(cs.inheritable>>shift))
	}
	return 0, c.mem.CopyOut(c.args[1], b)
}

// sysCapset sets the caller's own sets on Linux's rules (cap_capset): the
// permitted set may only shrink, effective must lie within the new
// permitted set, and inheritable may only gain what is permitted (any of
// the bounding set with CAP_SETPCAP).
func sysCapset(c *syscallCtx) (int64, error) {
	words, pid, err := c.capHeader(c.args[0])
	if err != nil {
		return 0, err
	}
	b, err := c.mem.CopyIn(c.args[1], 12*words)
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
	eff, prm, inh = eff&capAll, prm&capAll, inh&capAll
	k := c.k
	k.mu.Lock()
	defer k.mu.Unlock()
	p := c.t.proc
	if pid != 0 && pid != p.pid && pid != c.t.tid {
		return 0, unix.EPERM
	}
	cs := &p.creds.caps
	if !p.creds.capable(linux.CAP_SETPCAP) && inh&^(cs.inheritable|cs.permitted) != 0 {
		return 0, unix.EPERM
	}
	if inh&^(cs.inheritable|cs.bounding) != 0 || prm&^cs.permitted != 0 || eff&^prm != 0 {
		return 0, unix.EPERM
	}
	cs.effective, cs.permitted, cs.inheritable = eff, prm, inh
	cs.ambient &= prm & inh
	k.trk.touch(p)
	return 0, nil
}

// sysPrctlCaps implements the prctl options on capabilities and securebits
// (the client forwards them; the rest of prctl is local to the client).
func sysPrctlCaps(c *syscallCtx) (int64, error) {
	option, arg2, arg3, arg4, arg5 := c.args[0], c.args[1], c.args[2], c.args[3], c.args[4]
	k := c.k
	k.mu.Lock()
	defer k.mu.Unlock()
	p := c.t.proc
	cr := &p.creds
	cs := &cr.caps
	valid := func(cp uint64) bool { return cp <= uint64(linux.CAP_LAST_CAP) }
	switch option {
	case linux.PR_CAPBSET_READ:
		if !valid(arg2) {
			return 0, unix.EINVAL
		}
		return int64(cs.bounding >> arg2 & 1), nil
	case linux.PR_CAPBSET_DROP:
		if !cr.capable(linux.CAP_SETPCAP) {
			return 0, unix.EPERM
		}
		if !valid(arg2) {
			return 0, unix.EINVAL
		}
		cs.bounding &^= 1 << arg2
	case linux.PR_CAP_AMBIENT:
		if arg2 == linux.PR_CAP_AMBIENT_CLEAR_ALL {
			if arg3|arg4|arg5 != 0 {
				return 0, unix.EINVAL
			}
			cs.ambient = 0
			break
		}
		if !valid(arg3) || arg4|arg5 != 0 {
			return 0, unix.EINVAL
		}
		bit := uint64(1) << arg3
		switch arg2 {
		case linux.PR_CAP_AMBIENT_IS_SET:
			if cs.ambient&bit != 0 {
				return 1, nil
			}
			return 0, nil
		case linux.PR_CAP_AMBIENT_RAISE:
			if cs.permitted&bit == 0 || cs.inheritable&bit == 0 || cs.securebits&secbitNoCapAmbientRaise != 0 {
				return 0, unix.EPERM
			}
			cs.ambient |= bit
		case linux.PR_CAP_AMBIENT_LOWER:
			cs.ambient &^= bit
		default:
			return 0, unix.EINVAL
		}
	case linux.PR_GET_KEEPCAPS:
		if arg2|arg3|arg4|arg5 != 0 {
			return 0, unix.EINVAL
		}
		return int64(cs.securebits & secbitKeepCaps >> 4), nil
	case linux.PR_SET_KEEPCAPS:
		if arg2 > 1 || arg3|arg4|arg5 != 0 {
			return 0, unix.EINVAL
		}
		if cs.securebits&secbitKeepCapsLocked != 0 {
			return 0, unix.EPERM
		}
		if arg2 == 1 {
			cs.securebits |= secbitKeepCaps
		} else {
			cs.securebits &^= secbitKeepCaps
		}
	case linux.PR_GET_SECUREBITS:
		return int64(cs.securebits), nil
	case linux.PR_SET_SECUREBITS:
		// Locked bits may not change, nor may a lock be undone (their
		// lock bits are the odd ones above each bit).
		locked := cs.securebits & secbitsLocks >> 1
		if (uint32(arg2)^cs.securebits)&locked != 0 || cs.securebits&secbitsLocks&^uint32(arg2) != 0 || arg2&^uint64(secbitsAll) != 0 ||
			!cr.capable(linux.CAP_SETPCAP) {
			return 0, unix.EPERM
		}
		cs.securebits = uint32(arg2)
	default:
		return 0, unix.EINVAL
	}
	k.trk.touch(p)
	return 0, nil
}

// Securebits (Linux's include/uapi/linux/securebits.h): each bit has a
// lock bit just above it.
const (
	secbitNoroot            = 1 << 0
	secbitKeepCaps          = 1 << 4
	secbitKeepCapsLocked    = 1 << 5
	secbitNoCapAmbientRaise = 1 << 6
	secbitsLocks            = 1<<1 | 1<<3 | 1<<5 | 1<<7
	secbitsAll              = secbitsLocks | secbitsLocks>>1
)
