package syscalls

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// MemfdCreate implements memfd_create: a file of the client's /dev/shm,
// unlinked at once, with a memfd's name and seals (vfs.Memfd).
func MemfdCreate(c *kernel.Task) (int64, error) {
	flags := uint32(c.Args[1])
	if flags&^(unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING) != 0 {
		// MFD_HUGETLB, MFD_EXEC and MFD_NOEXEC_SEAL are not supported.
		return 0, unix.EINVAL
	}
	name, err := c.Mem.CopyInString(c.Args[0], sysabi.PathMax)
	if errors.Is(err, unix.ENAMETOOLONG) {
		return 0, unix.EINVAL
	}
	if err != nil {
		return 0, err
	}
	if len(name) > vfs.MemfdNameMax {
		return 0, unix.EINVAL
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	v := c.Kernel.VFS
	dir, err := v.ShmDentry()
	if err != nil {
		return 0, fmt.Errorf("memfd_create: /dev/shm: %w", err)
	}
	// The name follows the call's seq, which is unique in this client's
	// directory and the same when the call is re-sent after a Restore, so
	// the gofer's reply cache answers the create and the unlink again.
	hidden := fmt.Sprintf(".rd-memfd-%d", c.CallSeq)
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, fmt.Errorf("memfd_create: /dev/shm: %w", err)
	}
	// Linux's memfd is mode 0777 whatever the umask, owned by the
	// caller's fsuid and fsgid.
	cr := c.ProcessCreds()
	ctx, cancel := v.RPCCtx()
	seen := v.RemovalsSeen()
	cr0, err := c.Kernel.Gofer.Create(ctx, &goferpb.CreateRequest{Dir: dh, Name: []byte(hidden), Flags: unix.O_RDWR,
		Mode: 0777, Uid: cr.FSUID, Gid: cr.FSGID, Origin: c.GoferOrigin(0)})
	cancel()
	if err := syserr.FromGofer("create "+hidden, cr0.GetErrno(), err); err != nil {
		return 0, fmt.Errorf("memfd_create %q: %w", name, err)
	}
	if cr0.Handle == nil || cr0.Stat == nil {
		return 0, unix.EIO
	}
	d := v.InsertChild(dir, hidden, 0, cr0.Handle.FileHandle, cr0.Stat, seen)
	f := vfs.NewFile(vfs.NewGoferFile(v, cr0.Handle.Id, cr0.Handle.FileHandle, nil), d, unix.O_RDWR|linux.O_LARGEFILE) // as Linux's memfd_create
	ctx, cancel = v.RPCCtx()
	ur, err := c.Kernel.Gofer.Unlink(ctx, &goferpb.UnlinkRequest{Dir: dh, Name: []byte(hidden), Origin: c.GoferOrigin(1), Open: true})
	cancel()
	v.Forget(dir, hidden)
	if err := syserr.FromGofer("unlink "+hidden, ur.GetErrno(), err); err != nil {
		f.DecRef()
		return 0, fmt.Errorf("memfd_create %q: %w", name, err)
	}
	var seals uint32
	if flags&unix.MFD_ALLOW_SEALING == 0 {
		seals = unix.F_SEAL_SEAL
	}
	f.Impl.(*vfs.GoferFile).Memfd = vfs.NewMemfd(name, seals)
	fd, err := tab.Install(f, 0, flags&unix.MFD_CLOEXEC != 0, c.CallSeq)
	return int64(fd), err
}

// FcntlSeals serves F_ADD_SEALS and F_GET_SEALS (the server's fcntl
// calls it); a file that is not a memfd has no seals (EINVAL), as a
// non-shmem file on Linux.
func FcntlSeals(c *kernel.Task, f *fdesc.File, cmd int) (int64, error) {
	m := vfs.MemfdOf(f)
	if m == nil {
		return 0, unix.EINVAL
	}
	if cmd == unix.F_GET_SEALS {
		return int64(m.Seals()), nil
	}
	add := uint32(c.Args[2])
	if add&^vfs.MemfdSeals != 0 {
		return 0, unix.EINVAL
	}
	if !f.Writable() {
		return 0, unix.EPERM
	}
	// Linux refuses F_SEAL_WRITE while a writable shared mapping exists.
	// (A mapping made meanwhile by another thread of the application is
	// a race the application lost either way.)
	mappedWritable := false
	if add&unix.F_SEAL_WRITE != 0 && vfs.DentryOf(f) != nil {
		ws := c.Kernel.Maps.WritablesOf(vfs.DentryOf(f).Ino())
		for _, w := range ws {
			w.DecRef()
		}
		mappedWritable = len(ws) > 0
	}
	if err := m.AddSeals(add, mappedWritable); err != nil {
		return 0, err
	}
	f.Changed()
	return 0, nil
}
