package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// The credentials' calls: the user and group ids (get*id, set*id,
// setfs*id) and the supplementary groups, over package auth's rules.

// Getuid implements getuid(2), geteuid(2), getgid(2) and getegid(2).
func Getuid(c *kernel.Task) (int64, error) {
	cr := c.ProcessCreds()
	switch c.Sysno {
	case unix.SYS_GETUID:
		return int64(cr.RUID), nil
	case unix.SYS_GETEUID:
		return int64(cr.EUID), nil
	case unix.SYS_GETGID:
		return int64(cr.RGID), nil
	}
	return int64(cr.EGID), nil
}

// Getresuid implements getresuid(2) and getresgid(2).
func Getresuid(c *kernel.Task) (int64, error) {
	cr := c.ProcessCreds()
	ids := [3]uint32{cr.RUID, cr.EUID, cr.SUID}
	if c.Sysno == unix.SYS_GETRESGID {
		ids = [3]uint32{cr.RGID, cr.EGID, cr.SGID}
	}
	for i, id := range ids {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], id)
		if err := c.Mem.CopyOut(c.Args[i], b[:]); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// setIDs implements the set*id family for either uids or gids, on the
// Linux rules: a caller with CAP_SETUID (CAP_SETGID for gids) may set
// anything; others may only use ids they already hold. Arguments of -1
// mean "unchanged". A uid change then adjusts the capabilities
// (creds.fixSetuid).
func setIDs(c *kernel.Task, gid bool, r, e, s int64, mode string) error {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	k.Trk.Changed(p)
	cr := &p.Creds
	old := *cr
	defer func() {
		if !gid {
			cr.FixSetuid(old)
		}
		p.CredsChanged(old)
	}()
	ruid, euid, suid, fsuid := &cr.RUID, &cr.EUID, &cr.SUID, &cr.FSUID
	priv := cr.Capable(linux.CAP_SETUID)
	if gid {
		ruid, euid, suid, fsuid = &cr.RGID, &cr.EGID, &cr.SGID, &cr.FSGID
		priv = cr.Capable(linux.CAP_SETGID)
	}
	holds := func(id int64) bool {
		return id == -1 || uint32(id) == *ruid || uint32(id) == *euid || uint32(id) == *suid
	}
	for _, id := range []int64{r, e, s} {
		if id < -1 || id > 0xfffffffe {
			return unix.EINVAL
		}
	}
	switch mode {
	case "set":
		if priv {
			*ruid, *euid, *suid, *fsuid = uint32(e), uint32(e), uint32(e), uint32(e)
			return nil
		}
		if uint32(e) != *ruid && uint32(e) != *suid {
			return unix.EPERM
		}
		*euid, *fsuid = uint32(e), uint32(e)
	case "setre":
		if !priv && ((r != -1 && uint32(r) != *ruid && uint32(r) != *euid) || !holds(e)) {
			return unix.EPERM
		}
		oldr := *ruid
		if r != -1 {
			*ruid = uint32(r)
		}
		if e != -1 {
			*euid = uint32(e)
		}
		if r != -1 || (e != -1 && uint32(e) != oldr) {
			*suid = *euid
		}
		*fsuid = *euid
	case "setres":
		// Linux returns at once when no id would change, the fs id
		// included (it is not reset to an unchanged effective one).
		if (r == -1 || uint32(r) == *ruid) && (e == -1 || (uint32(e) == *euid && uint32(e) == *fsuid)) && (s == -1 || uint32(s) == *suid) {
			return nil
		}
		if !priv && (!holds(r) || !holds(e) || !holds(s)) {
			return unix.EPERM
		}
		if r != -1 {
			*ruid = uint32(r)
		}
		if e != -1 {
			*euid = uint32(e)
		}
		if s != -1 {
			*suid = uint32(s)
		}
		*fsuid = *euid
	}
	return nil
}

// ArgID is an id argument: a uid or gid, or -1 (unchanged) as is.
func ArgID(a uint64) int64 {
	if uint32(a) == ^uint32(0) {
		return -1
	}
	return int64(uint32(a))
}

// Setuid implements setuid(2), setgid(2), setreuid(2), setregid(2),
// setresuid(2) and setresgid(2).
func Setuid(c *kernel.Task) (int64, error) {
	var err error
	switch c.Sysno {
	case unix.SYS_SETUID:
		if ArgID(c.Args[0]) == -1 {
			return 0, unix.EINVAL
		}
		err = setIDs(c, false, -1, ArgID(c.Args[0]), -1, "set")
	case unix.SYS_SETGID:
		if ArgID(c.Args[0]) == -1 {
			return 0, unix.EINVAL
		}
		err = setIDs(c, true, -1, ArgID(c.Args[0]), -1, "set")
	case unix.SYS_SETREUID:
		err = setIDs(c, false, ArgID(c.Args[0]), ArgID(c.Args[1]), -1, "setre")
	case unix.SYS_SETREGID:
		err = setIDs(c, true, ArgID(c.Args[0]), ArgID(c.Args[1]), -1, "setre")
	case unix.SYS_SETRESUID:
		err = setIDs(c, false, ArgID(c.Args[0]), ArgID(c.Args[1]), ArgID(c.Args[2]), "setres")
	case unix.SYS_SETRESGID:
		err = setIDs(c, true, ArgID(c.Args[0]), ArgID(c.Args[1]), ArgID(c.Args[2]), "setres")
	}
	return 0, err
}

// Setfsuid implements setfsuid(2) and setfsgid(2).
func Setfsuid(c *kernel.Task) (int64, error) {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	cr := &c.Thread.Proc.Creds
	id := uint32(c.Args[0])
	if id == ^uint32(0) {
		// No valid id: Linux only reports the current one.
		if c.Sysno == unix.SYS_SETFSUID {
			return int64(cr.FSUID), nil
		}
		return int64(cr.FSGID), nil
	}
	if c.Sysno == unix.SYS_SETFSUID {
		old := cr.FSUID
		if cr.Capable(linux.CAP_SETUID) || id == cr.RUID || id == cr.EUID || id == cr.SUID || id == cr.FSUID {
			was := *cr
			cr.FSUID = id
			cr.FixSetfsuid(old)
			c.Thread.Proc.CredsChanged(was)
			k.Trk.Changed(c.Thread.Proc)
		}
		return int64(old), nil
	}
	old := cr.FSGID
	if cr.Capable(linux.CAP_SETGID) || id == cr.RGID || id == cr.EGID || id == cr.SGID || id == cr.FSGID {
		was := *cr
		cr.FSGID = id
		c.Thread.Proc.CredsChanged(was)
		k.Trk.Changed(c.Thread.Proc)
	}
	return int64(old), nil
}

// Getgroups implements getgroups(2).
func Getgroups(c *kernel.Task) (int64, error) {
	size := int32(c.Args[0])
	if size < 0 {
		return 0, unix.EINVAL
	}
	groups := c.ProcessCreds().Groups
	if size == 0 {
		return int64(len(groups)), nil
	}
	if int(size) < len(groups) {
		return 0, unix.EINVAL
	}
	b := make([]byte, 4*len(groups))
	for i, g := range groups {
		binary.LittleEndian.PutUint32(b[4*i:], g)
	}
	return int64(len(groups)), c.Mem.CopyOut(c.Args[1], b)
}

// Setgroups sets the supplementary groups permission checks use
// (perm.go); it needs CAP_SETGID.
func Setgroups(c *kernel.Task) (int64, error) {
	n := int32(c.Args[0])
	if n < 0 || n > auth.MaxGroups {
		return 0, unix.EINVAL
	}
	var groups []uint32
	if n > 0 {
		b, err := c.Mem.CopyIn(c.Args[1], 4*int(n))
		if err != nil {
			return 0, err
		}
		groups = make([]uint32, n)
		for i := range groups {
			groups[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	}
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	if !p.Creds.Capable(linux.CAP_SETGID) {
		return 0, unix.EPERM
	}
	p.Creds.Groups = groups
	k.Trk.Changed(p)
	return 0, nil
}
