package server

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
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
	fileBase  = fdesc.FileBase
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
func (k *clientState) inodeOpen(ino uint64) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := make(map[*fdTable]bool)
	for _, p := range k.procs {
		t := p.fds
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
	return k.maps.Holds(ino)
}

// inodeOpenForWrite reports whether the application has the gofer file
// with inode number ino open for writing: an fd of a process refers to a
// writable description of it, or a shared mapping keeps one (Linux's
// i_writecount, which makes execve ETXTBSY). Descriptions of other
// clients and of the host are not seen.
func (k *clientState) inodeOpenForWrite(ino uint64) bool {
	if wfs := k.maps.WritablesOf(ino); len(wfs) > 0 {
		for _, wf := range wfs {
			wf.DecRef()
		}
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := make(map[*fdTable]bool)
	for _, p := range k.procs {
		t := p.fds
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

// RecordOffset is c's fdesc.OffsetRecorder: a nil c reports the value at
// once.
func (c *syscallCtx) RecordOffset(f *file, ver uint64, off int64) {
	if c == nil {
		f.OffRep.Store(off)
		return
	}
	e := c.effects()
	for i := range e.offsets {
		if e.offsets[i].f == f {
			e.offsets[i].ver, e.offsets[i].off = ver, off
			return
		}
	}
	e.offsets = append(e.offsets, offChange{f: f, ver: ver, off: off})
}

// procFile is a synthesized /proc file whose content was taken at open
// (when opened for reading) and is taken again by every later read at
// offset 0, as Linux's seq files start over there (top re-reads
// /proc/stat with lseek and read); writes go to procfs.Write.
type procFile struct {
	fileBase
	// k and d are immutable: the client whose state the file shows,
	// and its dentry.
	k *clientState
	d *dentry
	// mounts is the mount table, for /proc/<pid>/mounts and mountinfo,
	// which poll as Linux's mounts_poll (set at open).
	mounts *mount.Table
	// mu guards the fields below (a leaf: content is generated without
	// it).
	mu sync.Mutex
	// data is the content last taken; unread says no read has used it
	// yet, so that a read at 0 just after the open does not take it
	// twice.
	data   []byte
	unread bool
	// pollEvent is the mount table's change count at the open or at the
	// last poll that reported a change.
	pollEvent uint64
}

// readiness of /proc/<pid>/mounts and mountinfo: readable, and
// EPOLLERR|EPOLLPRI at the first poll after the mount table changed.
// Other /proc files are always ready, as fileBase says.
func (f *procFile) Readiness(*file) (uint32, <-chan struct{}) {
	if f.mounts == nil {
		return f.fileBase.Readiness(nil)
	}
	event, ch := f.mounts.Event()
	r := uint32(pollIn | pollRdNorm)
	f.mu.Lock()
	if event != f.pollEvent {
		f.pollEvent = event
		r |= pollErr | pollPri
	}
	f.mu.Unlock()
	return r, ch
}

func (f *procFile) Read(_ fdesc.Call, _ *file, n int, off int64) ([]byte, error) {
	f.mu.Lock()
	again := off == 0 && !f.unread
	f.unread = false
	data := f.data
	f.mu.Unlock()
	if again {
		var err error
		if data, err = f.k.procFileData(f.d); err != nil {
			if errors.Is(err, unix.ENOENT) && f.d.Kind == vfs.KindProcFile && f.d.ProcScope != procfs.Top {
				// The process is gone: Linux's ESRCH, but environ,
				// which reads as empty without an address space.
				if f.d.ProcName == "environ" {
					return nil, nil
				}
				return nil, unix.ESRCH
			}
			return nil, err
		}
		f.mu.Lock()
		f.data = data
		f.mu.Unlock()
	}
	if off >= int64(len(data)) {
		return nil, nil
	}
	end := off + int64(n)
	if end > int64(len(data)) {
		end = int64(len(data))
	}
	return append([]byte(nil), data[off:end]...), nil
}

func (f *procFile) Write(_ fdesc.Call, _ *file, b []byte, _ int64) (int, error) {
	if err := procfs.Write(procSource{f.k}, f.d.ProcScope, f.d.ProcName, f.d.PID, f.d.TID, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (f *procFile) Stat(fdesc.Call) (*goferpb.Stat, error) {
	st := f.k.SynthStat(f.d)
	return st, nil
}
