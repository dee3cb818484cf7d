package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The kernel's side of open files: a process's fd table made with the
// client's hooks (NewFDTable, LockIno) and the questions asked of every
// fd and mapping (InodeOpen, InodeOpenForWrite, InodeExecuting,
// MountBusy).

// InodeOpen reports whether the application has the gofer file with inode
// number ino open: an fd of a process refers to it, or it is mapped. Open
// file descriptions only the server keeps (until their writes are
// durable) do not count.
func (k *Kernel) InodeOpen(ino uint64) bool {
	if k.anyFD(func(e fdtable.Entry) bool { return isGoferIno(e, ino) }) {
		return true
	}
	return k.Maps.Holds(ino)
}

// isGoferIno reports whether e's file is the gofer file with inode number
// ino.
func isGoferIno(e fdtable.Entry, ino uint64) bool {
	d := vfs.DentryOf(e.File)
	return d != nil && d.Kind == vfs.KindGofer && d.Ino() == ino
}

// eachFDTableLocked calls visit with the fd table of each process, each
// table once, until visit returns false. Precondition: k.Mu held.
func (k *Kernel) eachFDTableLocked(visit func(*fdtable.Table) bool) {
	seen := make(map[*fdtable.Table]bool)
	for _, p := range k.Procs {
		t := p.FDs
		if t == nil || seen[t] {
			continue
		}
		seen[t] = true
		if !visit(t) {
			return
		}
	}
}

// anyFD reports whether some fd of some process (each table once) has an
// entry for which match is true. It takes k.Mu.
func (k *Kernel) anyFD(match func(fdtable.Entry) bool) bool {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	found := false
	k.eachFDTableLocked(func(t *fdtable.Table) bool {
		t.Each(func(_ int32, e fdtable.Entry) {
			found = found || match(e)
		})
		return !found
	})
	return found
}

// MountBusy says a file of mount id is in use: open, a working
// directory (of a process of the mount's namespace: another's is under
// its own copy), or mapped. Descriptions do not say through which
// namespace's mount they were opened, so an open or mapped file of
// another namespace's copy of the mount counts too (EBUSY where Linux
// would let the copy go). It takes k.Mu.
func (k *Kernel) MountBusy(id int) bool {
	var ds []*vfs.Dentry
	g := k.VFS.GraftedByID(id) // the table may have let it go (umount2)
	if g == nil {
		return false
	}
	k.Mu.Lock()
	for _, p := range k.Procs {
		if p.FS != nil && p.FS.MntNS == g.NS {
			ds = append(ds, p.FS.Cwd)
		}
	}
	k.eachFDTableLocked(func(t *fdtable.Table) bool {
		t.Each(func(_ int32, e fdtable.Entry) { ds = append(ds, vfs.DentryOf(e.File)) })
		return true
	})
	k.Mu.Unlock()
	for _, f := range k.Maps.Files() {
		if f != nil {
			ds = append(ds, vfs.DentryOf(f))
		}
	}
	return k.VFS.MountHolds(id, ds)
}

// InodeOpenForWrite reports whether the application has the gofer file
// with inode number ino open for writing: an fd of a process refers to a
// writable description of it, or a shared mapping keeps one (Linux's
// i_writecount, which makes execve ETXTBSY). Descriptions of other
// clients and of the host are not seen.
func (k *Kernel) InodeOpenForWrite(ino uint64) bool {
	if wfs := k.Maps.WritablesOf(ino); len(wfs) > 0 {
		for _, wf := range wfs {
			wf.DecRef()
		}
		return true
	}
	return k.anyFD(func(e fdtable.Entry) bool {
		return isGoferIno(e, ino) && e.File.AccMode() != unix.O_RDONLY
	})
}

// InodeExecuting reports whether a live process of the application runs
// the gofer file with inode number ino (Linux's deny_write_access of an
// exec'd file, held by its mm until exit: opening it for writing or
// truncation is ETXTBSY). A script's process runs its interpreter, not
// the script.
func (k *Kernel) InodeExecuting(ino uint64) bool {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	for _, p := range k.Procs {
		if e := p.Exe; e != nil && !p.Exiting && !p.Zombie && e.Kind == vfs.KindGofer && e.Ino() == ino {
			return true
		}
	}
	return false
}

// NewFDTable returns an empty table of the client whose replay tracker
// is trk and lock table locks (either nil in tests without one), bound
// by the client's fs/nr_open (nil: the default).
func NewFDTable(trk *Tracker, locks *filelock.Table[*fdtable.Table, *fdesc.File], nrOpen *fdtable.NrOpen) *fdtable.Table {
	var tt fdtable.Tracker
	if trk != nil {
		tt = trk
	}
	return fdtable.New(tt, locks, LockIno, nrOpen)
}

// LockIno returns the inode number that keys f's locks (the fd tables'
// fdtable.LockKey). Only files of the gofer's tree can be locked: their inode numbers stay the same across a
// server restart, so the locks can be taken again.
func LockIno(f *fdesc.File) (uint64, bool) {
	if vfs.DentryOf(f) == nil || vfs.DentryOf(f).Kind != vfs.KindGofer {
		return 0, false
	}
	return vfs.DentryOf(f).Ino(), true
}
