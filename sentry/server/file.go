package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Poll event bits.
const (
	pollIn     = 0x1
	pollPri    = 0x2
	pollOut    = 0x4
	pollErr    = 0x8
	pollHup    = 0x10
	pollNval   = 0x20
	pollRdNorm = 0x40
	pollWrNorm = 0x100
)

// The file layer's types, as this package names them (package fdesc).
type (
	file      = fdesc.File
	fileImpl  = fdesc.FileImpl
	fileOwner = fdesc.Owner
)

// newFile returns a description of impl opened by d (nil: none) with
// flags; its owner is d's client.
func newFile(impl fileImpl, d *dentry, flags uint32) *file {
	var fd fdesc.Dentry
	var owner fileOwner
	if d != nil {
		fd = d
		owner = d.Owner()
	}
	return fdesc.NewFile(impl, fd, owner, flags)
}

// dentryOf returns f's dentry (nil when it has no path).
func dentryOf(f *file) *dentry { return vfs.DentryOf(f) }

// inodeOpen reports whether the application has the gofer file with inode
// number ino open: an fd of a process refers to it, or it is mapped. Open
// file descriptions only the server keeps (until their writes are
// durable) do not count.
func inodeOpen(k *clientState, ino uint64) bool {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	seen := make(map[*fdTable]bool)
	for _, p := range k.Procs {
		t := p.FDs
		if t == nil || seen[t] {
			continue
		}
		seen[t] = true
		open := false
		t.Each(func(_ int32, e fdEntry) {
			open = open || (dentryOf(e.File) != nil && dentryOf(e.File).Kind == vfs.KindGofer && dentryOf(e.File).Ino() == ino)
		})
		if open {
			return true
		}
	}
	return k.Maps.Holds(ino)
}

// inodeOpenForWrite reports whether the application has the gofer file
// with inode number ino open for writing: an fd of a process refers to a
// writable description of it, or a shared mapping keeps one (Linux's
// i_writecount, which makes execve ETXTBSY). Descriptions of other
// clients and of the host are not seen.
func inodeOpenForWrite(k *clientState, ino uint64) bool {
	if wfs := k.Maps.WritablesOf(ino); len(wfs) > 0 {
		for _, wf := range wfs {
			wf.DecRef()
		}
		return true
	}
	k.Mu.Lock()
	defer k.Mu.Unlock()
	seen := make(map[*fdTable]bool)
	for _, p := range k.Procs {
		t := p.FDs
		if t == nil || seen[t] {
			continue
		}
		seen[t] = true
		found := false
		t.Each(func(_ int32, e fdEntry) {
			if d := dentryOf(e.File); d != nil && d.Kind == vfs.KindGofer && d.Ino() == ino && e.File.AccMode() != unix.O_RDONLY {
				found = true
			}
		})
		if found {
			return true
		}
	}
	return false
}

// inodeExecuting reports whether a live process of the application runs
// the gofer file with inode number ino (Linux's deny_write_access of an
// exec'd file, held by its mm until exit: opening it for writing or
// truncation is ETXTBSY). A script's process runs its interpreter, not
// the script.
func inodeExecuting(k *clientState, ino uint64) bool {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	for _, p := range k.Procs {
		if e := p.Exe; e != nil && !p.Exiting && !p.Zombie && e.Kind == vfs.KindGofer && e.Ino() == ino {
			return true
		}
	}
	return false
}
