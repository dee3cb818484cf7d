package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

const (
	mapShared  = 0x1
	mapPrivate = 0x2
	mapAnon    = 0x20
)

// Mmap plans a file mapping; the client maps and faults it in.
func Mmap(c *kernel.Task) (int64, error) {
	length, prot, flags, fd, off := c.Args[1], c.Args[2], c.Args[3], ArgInt(c, 4), c.Args[5]
	if flags&mapAnon != 0 {
		return 0, unix.EINVAL
	}
	// Linux looks the fd up first: a bad fd is EBADF whatever the rest.
	f, err := c.GetFile(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if length == 0 || off&0xfff != 0 || int64(off) < 0 {
		return 0, unix.EINVAL
	}
	typ := flags & 0xf
	if typ != mapShared && typ != mapPrivate && typ != 0x3 {
		return 0, unix.EINVAL
	}
	if f.IsPath() {
		return 0, unix.EBADF
	}
	_, isGofer := f.Impl.(*vfs.GoferFile)
	dz, isDev := f.Impl.(*vfs.DevFile)
	isZero := isDev && dz.Kind == vfs.DevZero
	if !isGofer && !isZero {
		return 0, unix.ENODEV
	}
	if !f.Readable() {
		return 0, unix.EACCES
	}
	if isZero {
		if typ != mapPrivate && prot&unix.PROT_WRITE != 0 && !f.Writable() {
			return 0, unix.EACCES
		}
		c.Reply.Action = &sentrypb.Reply_Mmap{Mmap: &sentrypb.MmapPlan{Anonymous: true, Writable: f.Writable()}}
		return 0, nil
	}
	g := f.Impl.(*vfs.GoferFile)
	if typ != mapPrivate && prot&unix.PROT_WRITE != 0 && !f.Writable() {
		return 0, unix.EACCES
	}
	writable := f.Writable()
	if g.Memfd != nil && typ != mapPrivate && g.Memfd.Seals()&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		// A write-sealed memfd maps shared read-only, and stays so
		// (the client refuses mprotect to writable, as Linux clears
		// VM_MAYWRITE).
		if prot&unix.PROT_WRITE != 0 {
			return 0, unix.EPERM
		}
		writable = false
	}
	st, err := g.Stat(c)
	if err != nil {
		return 0, err
	}
	f.IncRef()
	id, gen, fresh := c.Kernel.Maps.AddFresh(f, kernel.MappedKey(st), typ != mapPrivate && writable)
	c.Reply.Action = &sentrypb.Reply_Mmap{Mmap: &sentrypb.MmapPlan{FileId: id, FileSize: st.Size, Writable: writable, FileGen: gen,
		FileData: c.Kernel.FirstPages(id, st.Size, fresh, nil)}}
	return 0, nil
}
