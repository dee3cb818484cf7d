package server

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// memfd_create makes a file in the client's /dev/shm directory (vfs_shm.go)
// and unlinks it at once, so it is an ordinary gofer file that has no name:
// the gofer keeps it (silly-renamed) while it is open or mapped, so
// MAP_SHARED mappings, fork, durability and recovery (reopened by its file
// handle) work as for any gofer file. What Linux adds to a memfd, its name
// and its seals, lives in a memfdInode shared by the descriptions of the
// file and is reported in FileState.memfd.

// memfdNameMax is the longest name memfd_create accepts (NAME_MAX less
// the "memfd:" prefix).
const memfdNameMax = 249

// Seals known here (F_SEAL_*); F_SEAL_EXEC is refused (EINVAL).
const memfdSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_FUTURE_WRITE

// memfdInode is the memfd part of a gofer file made by memfd_create.
type memfdInode struct {
	// name is the name memfd_create was given. Immutable.
	name string
	// mu protects seals. A leaf.
	mu sync.Mutex
	// seals are the file's F_SEAL_* bits; they only grow.
	seals uint32
}

func (m *memfdInode) getSeals() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seals
}

// memfdOf returns f's memfdInode, nil if f is not a memfd.
func memfdOf(f *file) *memfdInode {
	if g, ok := f.Impl.(*goferFile); ok {
		return g.memfd
	}
	return nil
}

func sysMemfdCreate(c *syscallCtx) (int64, error) {
	flags := uint32(c.args[1])
	if flags&^(unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING) != 0 {
		// MFD_HUGETLB, MFD_EXEC and MFD_NOEXEC_SEAL are not supported.
		return 0, unix.EINVAL
	}
	name, err := c.mem.CopyInString(c.args[0], sysabi.PathMax)
	if errors.Is(err, unix.ENAMETOOLONG) {
		return 0, unix.EINVAL
	}
	if err != nil {
		return 0, err
	}
	if len(name) > memfdNameMax {
		return 0, unix.EINVAL
	}
	tab, err := c.fdTable()
	if err != nil {
		return 0, err
	}
	v := c.k.vfs
	dir, err := v.ShmDentry()
	if err != nil {
		return 0, fmt.Errorf("memfd_create: /dev/shm: %w", err)
	}
	// The name follows the call's seq, which is unique in this client's
	// directory and the same when the call is re-sent after a Restore, so
	// the gofer's reply cache answers the create and the unlink again.
	hidden := fmt.Sprintf(".rd-memfd-%d", c.seq)
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, fmt.Errorf("memfd_create: /dev/shm: %w", err)
	}
	// Linux's memfd is mode 0777 whatever the umask, owned by the
	// caller's fsuid and fsgid.
	cr := c.creds()
	ctx, cancel := v.RPCCtx()
	cr0, err := c.k.gofer.Create(ctx, &goferpb.CreateRequest{Dir: dh, Name: hidden, Flags: unix.O_RDWR,
		Mode: 0777, Uid: cr.FSUID, Gid: cr.FSGID, Origin: c.origin(0)})
	cancel()
	if err := syserr.FromGofer("create "+hidden, cr0.GetErrno(), err); err != nil {
		return 0, fmt.Errorf("memfd_create %q: %w", name, err)
	}
	if cr0.Handle == nil || cr0.Stat == nil {
		return 0, unix.EIO
	}
	d := v.InsertChild(dir, hidden, 0, cr0.Handle.FileHandle, cr0.Stat)
	f := newFile(&goferFile{v: v, handle: cr0.Handle.Id, fh: cr0.Handle.FileHandle}, d, unix.O_RDWR)
	ctx, cancel = v.RPCCtx()
	ur, err := c.k.gofer.Unlink(ctx, &goferpb.UnlinkRequest{Dir: dh, Name: hidden, Origin: c.origin(1), Open: true})
	cancel()
	v.Forget(dir, hidden)
	if err := syserr.FromGofer("unlink "+hidden, ur.GetErrno(), err); err != nil {
		f.DecRef()
		return 0, fmt.Errorf("memfd_create %q: %w", name, err)
	}
	m := &memfdInode{name: name}
	if flags&unix.MFD_ALLOW_SEALING == 0 {
		m.seals = unix.F_SEAL_SEAL
	}
	f.Impl.(*goferFile).memfd = m
	fd, err := tab.Install(f, 0, flags&unix.MFD_CLOEXEC != 0)
	return int64(fd), err
}

// fcntlSeals serves F_ADD_SEALS and F_GET_SEALS; a file that is not a
// memfd has no seals (EINVAL), as a non-shmem file on Linux.
func (c *syscallCtx) fcntlSeals(f *file, cmd int) (int64, error) {
	m := memfdOf(f)
	if m == nil {
		return 0, unix.EINVAL
	}
	if cmd == unix.F_GET_SEALS {
		return int64(m.getSeals()), nil
	}
	add := uint32(c.args[2])
	if add&^memfdSeals != 0 {
		return 0, unix.EINVAL
	}
	if !f.Writable() {
		return 0, unix.EPERM
	}
	// Linux refuses F_SEAL_WRITE while a writable shared mapping exists.
	// (A mapping made meanwhile by another thread of the application is
	// a race the application lost either way.)
	mappedWritable := false
	if add&unix.F_SEAL_WRITE != 0 && dentryOf(f) != nil {
		ws := c.k.maps.WritablesOf(dentryOf(f).Ino())
		for _, w := range ws {
			w.DecRef()
		}
		mappedWritable = len(ws) > 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seals&unix.F_SEAL_SEAL != 0 {
		return 0, unix.EPERM
	}
	if mappedWritable && m.seals&unix.F_SEAL_WRITE == 0 {
		return 0, unix.EBUSY
	}
	m.seals |= add
	f.Changed()
	return 0, nil
}

// checkWrite refuses a write of n bytes at off that f's seals forbid: any
// write under F_SEAL_WRITE or F_SEAL_FUTURE_WRITE, one past the end under
// F_SEAL_GROW.
func (m *memfdInode) checkWrite(c *syscallCtx, f *file, off int64, n int) error {
	seals := m.getSeals()
	if seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		return unix.EPERM
	}
	if seals&unix.F_SEAL_GROW != 0 && n > 0 {
		st, err := f.Impl.Stat(c)
		if err != nil {
			return err
		}
		if uint64(off)+uint64(n) > st.Size {
			return unix.EPERM
		}
	}
	return nil
}

// checkResize refuses a truncate to size that F_SEAL_SHRINK or
// F_SEAL_GROW forbid.
func (m *memfdInode) checkResize(c *syscallCtx, f *file, size uint64) error {
	seals := m.getSeals()
	if seals&(unix.F_SEAL_SHRINK|unix.F_SEAL_GROW) == 0 {
		return nil
	}
	st, err := f.Impl.Stat(c)
	if err != nil {
		return err
	}
	if (size < st.Size && seals&unix.F_SEAL_SHRINK != 0) || (size > st.Size && seals&unix.F_SEAL_GROW != 0) {
		return unix.EPERM
	}
	return nil
}

// memfdState is a memfd's part of its description's FileState.
func (m *memfdInode) state() *sentrypb.MemfdState {
	return &sentrypb.MemfdState{Name: m.name, Seals: m.getSeals()}
}
