package synth

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// ProcFile is a synthesized /proc file whose content was taken at open
// (when opened for reading) and is taken again by every later read at
// offset 0, as Linux's seq files start over there (top re-reads
// /proc/stat with lseek and read); writes go to procfs.Write.
type ProcFile struct {
	fdesc.FileBase
	// fs and d are immutable: the file system whose state the file
	// shows, and its dentry.
	fs *FS
	d  *vfs.Dentry
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

// Readiness of /proc/<pid>/mounts and mountinfo: readable, and
// EPOLLERR|EPOLLPRI at the first poll after the mount table changed.
// Other /proc files are always ready, as fdesc.FileBase says.
func (f *ProcFile) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	if f.mounts == nil {
		return f.FileBase.Readiness(nil)
	}
	event, ch := f.mounts.Event()
	r := uint32(linux.POLLIN | linux.POLLRDNORM)
	f.mu.Lock()
	if event != f.pollEvent {
		f.pollEvent = event
		r |= linux.POLLERR | linux.POLLPRI
	}
	f.mu.Unlock()
	return r, ch
}

// PollsMounts says f is /proc/<pid>/mounts or mountinfo, whose readiness
// reports the mount table's changes (epoll takes it, unlike other
// regular files).
func (f *ProcFile) PollsMounts() bool { return f.mounts != nil }

// ranged says f is read by range (procfs.Ranged: pagemap).
func (f *ProcFile) ranged() bool {
	return f.d.Kind == vfs.KindProcFile && procfs.Ranged(f.d.ProcScope, f.d.ProcName)
}

// OpenContent returns a copy of the content f took at its open, if no
// read has used or replaced it, f is read whole (not by range) and the
// content holds at most max bytes: what f's reads return until one at
// offset 0 after the first takes it again (the client answers them from
// it: Reply.proc_data).
func (f *ProcFile) OpenContent(max int) ([]byte, bool) {
	if f.ranged() {
		return nil, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.unread || len(f.data) > max {
		return nil, false
	}
	return append([]byte{}, f.data...), true
}

func (f *ProcFile) Read(_ fdesc.Call, _ *fdesc.File, n int, off int64) ([]byte, error) {
	if f.ranged() {
		b, err := procfs.ReadAt(f.fs.k.Source(), f.d.ProcScope, f.d.ProcName, f.d.PID, f.d.TID, off, n)
		if errors.Is(err, unix.ENOENT) {
			return nil, nil // the process is gone: no address space to show
		}
		return b, err
	}
	f.mu.Lock()
	again := off == 0 && !f.unread
	f.unread = false
	data := f.data
	f.mu.Unlock()
	if again {
		var err error
		if data, err = f.fs.fileData(f.d); err != nil {
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

func (f *ProcFile) Write(c fdesc.Call, _ *fdesc.File, b []byte, _ int64) (int, error) {
	if caps := procfs.WriteCaps(f.d.ProcScope, f.d.ProcName); caps != 0 && !c.Creds().CapableOfAny(caps) {
		return 0, unix.EPERM
	}
	return procfs.Write(f.fs.k.Source(), f.d.ProcScope, f.d.ProcName, f.d.PID, f.d.TID, b, c.Creds().Caps.Effective)
}

func (f *ProcFile) Stat(fdesc.Call) (*goferpb.Stat, error) {
	st := f.fs.Stat(f.d)
	return st, nil
}
