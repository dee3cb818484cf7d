package auth

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Creds are a process's credentials: its user and group ids, its
// supplementary groups and its capability sets.
type Creds struct {
	RUID, EUID, SUID, FSUID uint32
	RGID, EGID, SGID, FSGID uint32
	// Groups are the supplementary groups. setgroups replaces the slice;
	// it is never changed in place, so copies of Creds may share it.
	Groups []uint32
	// Caps are the capability sets (caps.go).
	Caps CapSets
}

// MaxGroups is Linux's NGROUPS_MAX: the most supplementary groups a
// process may have.
const MaxGroups = 65536

// RootCreds are the credentials of a first process running as uid and
// gid: every id the same, the capabilities of InitialCaps.
func RootCreds(uid, gid uint32) Creds {
	return Creds{uid, uid, uid, uid, gid, gid, gid, gid, nil, InitialCaps(uid)}
}

// CapAll is every capability this kernel knows (CAP_LAST_CAP and below).
const CapAll = uint64(1)<<(linux.CAP_LAST_CAP+1) - 1

// capFSSet are the capabilities an fsuid change to or from 0 drops or
// restores (Linux's CAP_FS_SET).
const capFSSet = 1<<linux.CAP_CHOWN | 1<<linux.CAP_MKNOD | 1<<linux.CAP_DAC_OVERRIDE |
	1<<linux.CAP_DAC_READ_SEARCH | 1<<linux.CAP_FOWNER | 1<<linux.CAP_FSETID |
	1<<linux.CAP_MAC_OVERRIDE | 1<<linux.CAP_LINUX_IMMUTABLE

// CapSets are a process's capability sets and securebits.
type CapSets struct {
	Effective, Permitted, Inheritable, Bounding, Ambient uint64
	Securebits                                           uint32
}

// InitialCaps are the sets of a first process running as uid: root gets
// every capability (as runsc gives under `do`), others none; both keep
// the full bounding set.
func InitialCaps(uid uint32) CapSets {
	cs := CapSets{Bounding: CapAll}
	if uid == 0 {
		cs.Effective, cs.Permitted = CapAll, CapAll
	}
	return cs
}

// Capable reports whether the process holds cp in its effective set.
func (cr Creds) Capable(cp linux.Capability) bool {
	return cr.Caps.Effective&(1<<uint(cp)) != 0
}

// CapableOfAny says cr has one of the capabilities of mask (1<<CAP_*) in
// its effective set (files Linux guards with an "or" of two, as
// checkpoint_restore_ns_capable).
func (cr Creds) CapableOfAny(mask uint64) bool {
	return cr.Caps.Effective&mask != 0
}

// FixSetuid adjusts the capabilities after the uids changed from old
// (Linux's cap_emulate_setxuid): leaving root in all three uids clears
// the permitted and effective sets (unless SECBIT_KEEP_CAPS) and the
// ambient set; leaving euid 0 clears the effective set; returning to
// euid 0 restores it from the permitted set.
func (cr *Creds) FixSetuid(old Creds) {
	cs := &cr.Caps
	wasRoot := old.RUID == 0 || old.EUID == 0 || old.SUID == 0
	if wasRoot && cr.RUID != 0 && cr.EUID != 0 && cr.SUID != 0 {
		if cs.Securebits&SecbitKeepCaps == 0 {
			cs.Permitted, cs.Effective = 0, 0
		}
		cs.Ambient = 0
	}
	if old.EUID == 0 && cr.EUID != 0 {
		cs.Effective = 0
	}
	if old.EUID != 0 && cr.EUID == 0 {
		cs.Effective = cs.Permitted
	}
}

// FixSetfsuid adjusts the effective set after the fsuid changed from
// oldFsuid (Linux's cap_task_fix_setuid for LSM_SETID_FS).
func (cr *Creds) FixSetfsuid(oldFsuid uint32) {
	cs := &cr.Caps
	if oldFsuid == 0 && cr.FSUID != 0 {
		cs.Effective &^= capFSSet
	}
	if oldFsuid != 0 && cr.FSUID == 0 {
		cs.Effective |= cs.Permitted & capFSSet
	}
}

// ExecSetID applies execve's change of ids for a program with attributes
// image (Linux's bprm_fill_uid and cap_bprm_creds_from_file): a
// set-user-ID program runs with its owner as effective uid, a
// set-group-ID one (with group execute) with its group as effective gid,
// unless noNewPrivs; the saved and filesystem ids then follow the
// effective ones. A change of ids drops the ambient capabilities.
func (cr *Creds) ExecSetID(image FileAttrs, noNewPrivs bool) {
	if !noNewPrivs && image.Mode&unix.S_IFMT == unix.S_IFREG {
		if image.Mode&unix.S_ISUID != 0 {
			cr.EUID = image.UID
		}
		if image.Mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP {
			cr.EGID = image.GID
		}
	}
	if cr.EUID != cr.RUID || cr.EGID != cr.RGID {
		cr.Caps.Ambient = 0
	}
	cr.SUID, cr.FSUID = cr.EUID, cr.EUID
	cr.SGID, cr.FSGID = cr.EGID, cr.EGID
}

// ExecCaps applies execve's transform for a file without capabilities
// and without set-user-ID (Linux's cap_bprm_creds_from_file): a process
// with ruid or euid 0 gets its bounding and inheritable sets as permitted
// (effective too when euid is 0); others keep only the ambient set.
// SECBIT_KEEP_CAPS is cleared.
func (cr *Creds) ExecCaps() {
	cs := &cr.Caps
	var effective bool
	if cs.Securebits&SecbitNoroot == 0 && (cr.EUID == 0 || cr.RUID == 0) {
		cs.Permitted = cs.Bounding | cs.Inheritable
		effective = cr.EUID == 0
	} else {
		cs.Permitted = cs.Ambient
	}
	if effective {
		cs.Effective = cs.Permitted
	} else {
		cs.Effective = cs.Ambient
	}
	cs.Securebits &^= SecbitKeepCaps
}

// Securebits (Linux's include/uapi/linux/securebits.h): each bit has a
// lock bit just above it.
const (
	SecbitNoroot            = 1 << 0
	SecbitKeepCaps          = 1 << 4
	SecbitKeepCapsLocked    = 1 << 5
	SecbitNoCapAmbientRaise = 1 << 6
	SecbitsLocks            = 1<<1 | 1<<3 | 1<<5 | 1<<7
	SecbitsAll              = SecbitsLocks | SecbitsLocks>>1
)
